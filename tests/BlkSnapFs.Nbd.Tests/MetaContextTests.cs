namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// Metadata contexts besides base:allocation, listed, selected and queried by libnbd and qemu-img:
/// the names a backend offers, several contexts in one block status reply, and the protocol's edges.
/// </summary>
public sealed class MetaContextTests : IDisposable
{
    private const int Size = 8 * TestImage.MiB;
    private const int Block = 64 * 1024;
    private const string Bitmap = "qemu:dirty-bitmap:test:1";
    private const string Depth = "qemu:allocation-depth";

    private readonly TestDirectory _directory = new();
    private readonly NbdServer _server;
    private readonly string _socket;

    public MetaContextTests()
    {
        _socket = _directory.File("nbd.sock");
        _server = new NbdServer(new NbdServerOptions { UnixSocketPath = _socket });
        _server.Start();
        // Dirty: blocks 1, 2 and the last; depth 1 for the first MiB, 2 after it.
        var dirty = new HashSet<long> { 1, 2, (Size / Block) - 1 };
        _server.AddExport(new NbdExport("", new ContextBackend(Size,
        [
            new BlockContext(Bitmap, Block, Size, block => dirty.Contains(block) ? 1u : 0u),
            new BlockContext(Depth, Block, Size, block => block < TestImage.MiB / Block ? 1u : 2u),
        ])));
    }

    [Fact]
    public void ListingAnswersNamesAndNamespacePrefixes()
    {
        RunScript($$"""
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_unix("{{_socket}}")
            def listed(*queries):
                h.clear_meta_contexts()
                for q in queries:
                    h.add_meta_context(q)
                names = []
                h.opt_list_meta_context(lambda name: names.append(name))
                return sorted(names)
            assert listed() == ["base:allocation", "{{Depth}}", "{{Bitmap}}"], listed()
            assert listed("qemu:") == ["{{Depth}}", "{{Bitmap}}"], listed("qemu:")
            assert listed("qemu:dirty-bitmap:") == ["{{Bitmap}}"], listed("qemu:dirty-bitmap:")
            assert listed("base:") == ["base:allocation"]
            assert listed("{{Bitmap}}", "base:allocation") == ["base:allocation", "{{Bitmap}}"]
            assert listed("qemu:dirty-bitmap:test:2") == []
            assert listed("qemu:dirty-bitmap") == []
            h.opt_abort()
            """);
    }

    [Fact]
    public void SeveralContextsAnswerOneChunkEachAndUnknownNamesAreNotSelected()
    {
        RunScript($$"""
            h = nbd.NBD()
            h.add_meta_context("{{Bitmap}}")
            h.add_meta_context("qemu:dirty-bitmap:other:1")
            h.add_meta_context("base:allocation")
            h.add_meta_context("{{Depth}}")
            h.connect_unix("{{_socket}}")
            assert h.can_meta_context("{{Bitmap}}")
            assert h.can_meta_context("{{Depth}}")
            assert h.can_meta_context("base:allocation")
            assert not h.can_meta_context("qemu:dirty-bitmap:other:1")
            seen = {}
            def collect(context, offset, entries, err):
                assert context not in seen, context
                seen[context] = list(entries)
            h.block_status(4 * {{Block}}, 0, collect)
            assert sorted(seen) == ["base:allocation", "{{Depth}}", "{{Bitmap}}"], seen
            assert seen["{{Bitmap}}"] == [{{Block}}, 0, 2 * {{Block}}, 1, {{Block}}, 0], seen
            assert seen["{{Depth}}"] == [4 * {{Block}}, 1], seen

            # The last block, and a request that crosses the depth change.
            seen.clear()
            h.block_status({{Block}}, {{Size - Block}}, collect)
            assert seen["{{Bitmap}}"] == [{{Block}}, 1], seen
            assert seen["{{Depth}}"] == [{{Block}}, 2], seen
            seen.clear()
            h.block_status(2 * {{Block}}, {{TestImage.MiB - Block}}, collect)
            assert seen["{{Depth}}"] == [{{Block}}, 1, {{Block}}, 2], seen

            # REQ_ONE: one extent in each context.
            seen.clear()
            h.block_status({{Size}}, 0, collect, nbd.CMD_FLAG_REQ_ONE)
            assert seen["{{Bitmap}}"] == [{{Block}}, 0], seen
            assert seen["{{Depth}}"] == [{{TestImage.MiB}}, 1], seen
            assert len(seen["base:allocation"]) == 2, seen

            # The whole export: extents cover it exactly in every context.
            seen.clear()
            h.block_status({{Size}}, 0, collect)
            for context, entries in seen.items():
                assert sum(entries[0::2]) == {{Size}}, (context, entries)
                assert all(length > 0 for length in entries[0::2]), (context, entries)
            h.shutdown()
            """);
    }

    [Fact]
    public void SelectionNeedsStructuredRepliesAndNamesTheExport()
    {
        RunScript($$"""
            import errno
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.set_request_structured_replies(False)
            h.add_meta_context("{{Bitmap}}")
            h.connect_unix("{{_socket}}")
            assert not h.can_meta_context("{{Bitmap}}")
            try:
                h.block_status(4096, 0, lambda *a: 0)
                raise AssertionError("block status without a context succeeded")
            except nbd.Error as e:
                assert e.errnum == errno.EINVAL, e
            h.shutdown()
            """);
    }

    [Fact]
    public void QemuImgMapReadsADirtyBitmapAsQemuDoes()
    {
        // qemu's x-dirty-bitmap reads bit 0 where base:allocation has "hole": dirty ranges map as data false.
        var result = ExternalTool.Run("qemu-img",
            ["map", "--output=json", "--image-opts", $"driver=nbd,server.type=unix,server.path={_socket},x-dirty-bitmap={Bitmap}"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var dirty = System.Text.Json.JsonDocument.Parse(result.Stdout).RootElement.EnumerateArray()
            .Where(e => !e.GetProperty("data").GetBoolean())
            .Select(e => (e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64()))
            .ToList();
        Assert.Equal([(Block, 2L * Block), (Size - Block, Block)], dirty);
    }

    private void RunScript(string script)
    {
        var result = ExternalTool.Run("nbdsh", ["-n", "-c", script]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    public void Dispose()
    {
        _server.Dispose();
        _directory.Dispose();
    }

    private sealed class ContextBackend(long size, IReadOnlyList<INbdMetaContext> contexts) : INbdExportBackend
    {
        public long Size => size;

        public NbdExportCapabilities Capabilities => NbdExportCapabilities.None;

        public IReadOnlyList<INbdMetaContext> MetaContexts => contexts;

        public void Read(long offset, Span<byte> buffer) => buffer.Clear();
    }

    /// <summary>A context whose status is a function of the block number, merged into runs.</summary>
    private sealed class BlockContext(string name, long block, long size, Func<long, uint> status) : INbdMetaContext
    {
        public string Name => name;

        public void GetStatus(long offset, long length, List<NbdExtent> extents)
        {
            var end = Math.Min(offset + length, size);
            for (var at = offset; at < end;)
            {
                var value = status(at / block);
                var next = ((at / block) + 1) * block;
                while (next < end && status(next / block) == value)
                {
                    next += block;
                }

                extents.Add(new NbdExtent(Math.Min(next, end) - at, value));
                at = Math.Min(next, end);
            }
        }
    }
}
