//! The plan: pure logic from two descriptors' kinds and flags to an ordered list of strategies.
//!
//! The order follows the kernel-facts B and F entries, measured on Linux 6.18. The list always ends
//! in [`Strategy::ReadWrite`], which works for every pair the kernel can serve at all.

use super::{CopyOptions, FilePages, Strategy};
use crate::kind::{FdInfo, FdKind};

use Strategy::*;

/// Orders the strategies to try for copying from `src` to `dst`.
pub fn plan(src: &FdInfo, dst: &FdInfo, opts: &CopyOptions) -> Vec<Strategy> {
    let consumer_refs = dst.kind == FdKind::Pipe || dst.kind.is_socket();
    if src.kind.is_file_like() && consumer_refs && opts.file_pages == FilePages::Copy {
        // A pipe or socket would reference the file's pages (kernel-facts F1): copy instead.
        return vec![ReadWrite];
    }
    let page_cache = matches!(src.kind, FdKind::File | FdKind::BlockDevice);
    if page_cache && dst.kind.is_socket() && opts.file_pages == FilePages::Settle {
        // A socket's queues (ours and, on loopback, the peer's) are not bounded by anything
        // we can settle against: copy, so the promise of `Settle` holds for sockets too.
        return vec![ReadWrite];
    }
    if dst.append && dst.kind != FdKind::Pipe {
        // splice/sendfile give EINVAL and copy_file_range EBADF on O_APPEND (kernel-facts F5, B32);
        // a pipe with O_APPEND set is fine.
        return vec![ReadWrite];
    }
    let datagram = |k: FdKind| matches!(k, FdKind::Socket(s) if s.is_datagram());
    if datagram(src.kind) || datagram(dst.kind) {
        // Source: a splice shorter than a datagram drops its tail (kernel-facts F18).
        // Sink: splice and sendfile cork pieces with MSG_MORE, so datagram boundaries are the
        // kernel's, and a sendfile into UDP was seen to lose the tail datagram; one write per
        // datagram keeps the boundaries ours.
        return vec![ReadWrite];
    }
    let odd = |k: FdKind| matches!(k, FdKind::Directory | FdKind::Other);
    if odd(src.kind) || odd(dst.kind) {
        return vec![ReadWrite]; // read/write reports the kernel's own error (EISDIR, EINVAL…)
    }
    let sendfile_ok = opts.dst_offset.is_none(); // sendfile writes at the sink's position only
    let mut order = Vec::with_capacity(4);
    match (src.kind, dst.kind) {
        // file -> pipe: two hops through a private pipe beat one direct splice here — the
        // reader drains while the next chunk is looked up (kernel-facts §4.1; `splice bench` measures
        // both in each run: 53 vs 40 GiB/s on the reference machine).
        (s, FdKind::Pipe) if s.is_file_like() => order.extend([SpliceBroker, Splice]),
        (_, FdKind::Pipe) | (FdKind::Pipe, _) => order.push(Splice),
        (FdKind::File, FdKind::File) => {
            if src.dev == dst.dev {
                order.push(CopyFileRange); // EXDEV across superblocks since 5.19 (kernel-facts F9)
            }
            if sendfile_ok {
                order.push(Sendfile);
            }
            order.push(SpliceBroker);
        }
        (s, _) if s.is_file_like() => {
            if sendfile_ok {
                order.push(Sendfile);
            }
            order.push(SpliceBroker);
        }
        (FdKind::Socket(_), _) => order.push(SpliceBroker), // sendfile cannot read sockets
        _ => {}
    }
    order.push(ReadWrite);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::SocketKind;

    fn fd(kind: FdKind) -> FdInfo {
        FdInfo {
            kind,
            append: false,
            nonblock: false,
            direct: false,
            dev: 1,
            ino: 1,
            size: 0,
        }
    }

    fn share() -> CopyOptions {
        CopyOptions {
            file_pages: FilePages::Share,
            ..CopyOptions::zero_copy()
        }
    }

    #[test]
    fn settle_plans_as_share_into_pipes_and_copies_into_sockets() {
        let settle = CopyOptions::zero_copy();
        let tcp = fd(FdKind::Socket(SocketKind::Tcp));
        let (file, pipe) = (fd(FdKind::File), fd(FdKind::Pipe));
        assert_eq!(plan(&file, &pipe, &settle), plan(&file, &pipe, &share()));
        assert_eq!(plan(&file, &tcp, &settle), [ReadWrite]);
        let zero = fd(FdKind::CharDevice);
        assert_eq!(plan(&zero, &tcp, &settle), plan(&zero, &tcp, &share()));
    }

    #[test]
    fn file_to_file_prefers_copy_file_range_on_one_filesystem() {
        let (a, mut b) = (fd(FdKind::File), fd(FdKind::File));
        assert_eq!(
            plan(&a, &b, &share()),
            [CopyFileRange, Sendfile, SpliceBroker, ReadWrite]
        );
        b.dev = 2;
        assert_eq!(plan(&a, &b, &share()), [Sendfile, SpliceBroker, ReadWrite]);
        let at = CopyOptions {
            dst_offset: Some(5),
            ..share()
        };
        assert_eq!(plan(&a, &b, &at), [SpliceBroker, ReadWrite]);
    }

    #[test]
    fn a_pipe_on_either_side_splices_directly() {
        let tcp = fd(FdKind::Socket(SocketKind::Tcp));
        let f2p = [SpliceBroker, Splice, ReadWrite];
        assert_eq!(plan(&fd(FdKind::File), &fd(FdKind::Pipe), &share()), f2p);
        assert_eq!(
            plan(&fd(FdKind::CharDevice), &fd(FdKind::Pipe), &share()),
            f2p
        );
        for (s, d) in [
            (fd(FdKind::Pipe), fd(FdKind::File)),
            (fd(FdKind::Pipe), fd(FdKind::Pipe)),
            (tcp, fd(FdKind::Pipe)),
            (fd(FdKind::Pipe), tcp),
        ] {
            assert_eq!(
                plan(&s, &d, &share()),
                [Splice, ReadWrite],
                "{s:?} -> {d:?}"
            );
        }
    }

    #[test]
    fn sockets_go_through_the_broker_and_datagrams_are_read() {
        let tcp = fd(FdKind::Socket(SocketKind::Tcp));
        let udp = fd(FdKind::Socket(SocketKind::Udp));
        assert_eq!(
            plan(&tcp, &fd(FdKind::File), &share()),
            [SpliceBroker, ReadWrite]
        );
        assert_eq!(plan(&tcp, &tcp, &share()), [SpliceBroker, ReadWrite]);
        assert_eq!(plan(&udp, &fd(FdKind::File), &share()), [ReadWrite]);
        assert_eq!(plan(&udp, &fd(FdKind::Pipe), &share()), [ReadWrite]);
        assert_eq!(plan(&fd(FdKind::File), &udp, &share()), [ReadWrite]);
        assert_eq!(plan(&fd(FdKind::Pipe), &udp, &share()), [ReadWrite]);
        assert_eq!(
            plan(&fd(FdKind::File), &tcp, &share()),
            [Sendfile, SpliceBroker, ReadWrite]
        );
        assert_eq!(
            plan(&fd(FdKind::CharDevice), &fd(FdKind::CharDevice), &share())[0],
            Sendfile
        );
    }

    #[test]
    fn append_sinks_and_odd_kinds_take_read_write() {
        let mut app = fd(FdKind::File);
        app.append = true;
        assert_eq!(plan(&fd(FdKind::File), &app, &share()), [ReadWrite]);
        assert_eq!(plan(&fd(FdKind::Pipe), &app, &share()), [ReadWrite]);
        let mut app_pipe = fd(FdKind::Pipe);
        app_pipe.append = true;
        assert_eq!(
            plan(&fd(FdKind::File), &app_pipe, &share()),
            [SpliceBroker, Splice, ReadWrite]
        );
        assert_eq!(
            plan(&fd(FdKind::Directory), &fd(FdKind::Pipe), &share()),
            [ReadWrite]
        );
    }

    #[test]
    fn default_options_never_let_a_consumer_reference_file_pages() {
        let def = CopyOptions::default();
        let tcp = fd(FdKind::Socket(SocketKind::Tcp));
        assert_eq!(
            plan(&fd(FdKind::File), &fd(FdKind::Pipe), &def),
            [ReadWrite]
        );
        assert_eq!(plan(&fd(FdKind::File), &tcp, &def), [ReadWrite]);
        assert_eq!(
            plan(&fd(FdKind::File), &fd(FdKind::File), &def)[0],
            CopyFileRange
        );
        assert_eq!(
            plan(&fd(FdKind::Pipe), &fd(FdKind::Pipe), &def),
            [Splice, ReadWrite]
        );
        assert_eq!(plan(&tcp, &tcp, &def), [SpliceBroker, ReadWrite]);
    }
}
