namespace BlkSnapFs.Nbd.Tests;

/// <summary>Edge cases driven through libnbd's Python shell, with client-side checks disabled.</summary>
public sealed class NbdShTests : IDisposable
{
    private const int Size = 8 * TestImage.MiB;
    private readonly ServedFiles _served = new();

    public NbdShTests()
    {
        _served.AddStripedExport("", Size);
        _served.AddStripedExport("ro", TestImage.MiB, readOnly: true);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EdgeCases(bool structured)
    {
        RunScript($$"""
            import errno
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.set_request_structured_replies({{(structured ? "True" : "False")}})
            h.add_meta_context("base:allocation")
            h.connect_unix("{{_served.SocketPath}}")
            assert h.get_structured_replies_negotiated() == {{(structured ? "True" : "False")}}
            assert h.can_meta_context("base:allocation") == {{(structured ? "True" : "False")}}
            size = h.get_size()
            assert size == {{Size}}

            def expect_errno(code, call, *args):
                try:
                    call(*args)
                except nbd.Error as e:
                    assert e.errnum == code, (call, args, e)
                    return
                raise AssertionError("expected errno %d from %s%r" % (code, call.__name__, args))

            assert h.pread(0, 0) == b""
            h.pwrite(b"", 0)
            h.pwrite(b"hello", 12345)
            assert h.pread(5, 12345) == b"hello"
            assert h.pread(3, 12346) == b"ell"
            assert h.pread(1, size - 1) == h.pread(1, size - 1)

            expect_errno(errno.EINVAL, h.pread, 10, size - 5)
            expect_errno(errno.EINVAL, h.pread, 1, size)
            expect_errno(errno.EINVAL, h.pread, 1, 2**63)
            expect_errno(errno.ENOSPC, h.pwrite, b"x" * 10, size - 5)
            expect_errno(errno.EINVAL, h.trim, 4096, size)
            expect_errno(errno.EINVAL, h.pread, 4096, 0, nbd.CMD_FLAG_FUA)

            h.pwrite(b"\xff" * 65536, 1 << 20)
            h.trim(65536, 1 << 20)
            assert h.pread(65536, 1 << 20) == bytes(65536)
            h.pwrite(b"\xee" * 65536, 2 << 20)
            h.zero(65536, 2 << 20)
            assert h.pread(65536, 2 << 20) == bytes(65536)
            h.pwrite(b"\xdd" * 65536, 3 << 20)
            h.zero(65536, 3 << 20, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
            assert h.pread(65536, 3 << 20) == bytes(65536)
            h.pwrite(b"\x01" * 4096, 4096, nbd.CMD_FLAG_FUA)
            h.flush()
            h.cache(65536, 0)

            if {{(structured ? "True" : "False")}}:
                entries = []
                def extents(context, offset, descriptors, err):
                    assert context == "base:allocation"
                    entries.extend(descriptors)
                h.block_status(size, 0, extents)
                assert sum(entries[0::2]) == size, entries
                assert entries[1] == 0 and entries[3] == 3, entries
                entries.clear()
                h.block_status(3 << 20, 0, extents, nbd.CMD_FLAG_REQ_ONE)
                assert entries == [1 << 20, 0], entries
                expect_errno(errno.EINVAL, h.block_status, 4096, size, extents)
            else:
                expect_errno(errno.EINVAL, h.block_status, 4096, 0, lambda *a: 0)
            h.shutdown()
            """);
    }

    [Fact]
    public void ReadOnlyExportRefusesWrites()
    {
        RunScript($$"""
            import errno
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.set_export_name("ro")
            h.connect_unix("{{_served.SocketPath}}")
            assert h.is_read_only()
            for call, args in ((h.pwrite, (b"x", 0)), (h.trim, (512, 0)), (h.zero, (512, 0))):
                try:
                    call(*args)
                    raise AssertionError("write succeeded")
                except nbd.Error as e:
                    assert e.errnum == errno.EPERM, e
            assert len(h.pread(4096, 0)) == 4096
            h.shutdown()
            """);
    }

    [Fact]
    public void MetaContextNegotiation()
    {
        RunScript($$"""
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_unix("{{_served.SocketPath}}")
            listed = []
            assert h.opt_list_meta_context(lambda name: listed.append(name)) == 1
            assert listed == ["base:allocation"], listed
            h.add_meta_context("x-unknown:thing")
            listed.clear()
            assert h.opt_list_meta_context(lambda name: listed.append(name)) == 0
            h.clear_meta_contexts()
            h.add_meta_context("base:allocation")
            h.opt_go()
            assert h.can_meta_context("base:allocation")
            seen = []
            h.block_status(65536, 0, lambda ctx, off, entries, err: seen.append(ctx))
            assert seen == ["base:allocation"]
            h.shutdown()

            h = nbd.NBD()
            h.set_opt_mode(True)
            h.set_full_info(True)
            h.connect_unix("{{_served.SocketPath}}")
            exports = []
            h.opt_list(lambda name, description: exports.append(name))
            assert sorted(exports) == ["", "ro"], exports
            h.set_export_name("ro")
            h.opt_info()
            assert h.get_size() == {{TestImage.MiB}}
            assert h.get_canonical_export_name() == "ro"
            assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 * 1024 * 1024
            h.opt_abort()
            """);
    }

    [Fact]
    public void ConcurrentConnectionsWithCommandsInFlight()
    {
        RunScript($$"""
            import os
            handles = []
            for i in range(4):
                h = nbd.NBD()
                h.connect_unix("{{_served.SocketPath}}")
                assert h.can_multi_conn()
                handles.append(h)
            block = 64 * 1024
            expected = {}
            for round in range(3):
                for i, h in enumerate(handles):
                    for j in range(16):
                        offset = (i * 16 + j) * block
                        data = os.urandom(block)
                        expected[offset] = data
                        h.aio_pwrite(data, offset)
                for h in handles:
                    while h.aio_in_flight() > 0:
                        h.poll(-1)
                buffers = []
                for i, h in enumerate(reversed(handles)):
                    for offset in sorted(expected)[i::4]:
                        buf = nbd.Buffer(block)
                        h.aio_pread(buf, offset)
                        buffers.append((offset, buf))
                for h in handles:
                    while h.aio_in_flight() > 0:
                        h.poll(-1)
                for offset, buf in buffers:
                    assert buf.to_bytearray() == expected[offset], offset
            handles[0].flush()
            for h in handles:
                h.shutdown()
            """);
    }

    private static void RunScript(string script)
    {
        var result = ExternalTool.Run("nbdsh", ["-n", "-c", script]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    public void Dispose() => _served.Dispose();
}
