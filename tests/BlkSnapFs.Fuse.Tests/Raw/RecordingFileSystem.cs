using System.Collections.Concurrent;
using System.Text;
using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>An <see cref="IRawFileSystem"/> that succeeds at everything and writes down each call with the arguments it decoded.</summary>
internal sealed class RecordingFileSystem : IRawFileSystem
{
    private readonly ConcurrentQueue<string> _calls = new();

    /// <summary>The calls so far, oldest first, each as "Method argument argument …".</summary>
    public IReadOnlyList<string> Calls => [.. _calls];

    public void Initialized(FuseSession session)
    {
    }

    public int Lookup(RequestContext context, ReadOnlySpan<byte> name, out EntryOut entry)
    {
        Record("Lookup", Text(name));
        entry = default;
        return 0;
    }

    public void Forget(ulong nodeId, ulong lookupCount) => Record("Forget", nodeId, lookupCount);

    public int GetAttr(RequestContext context, in GetAttrIn request, out AttrOut reply)
    {
        Record("GetAttr", request.Handle);
        reply = default;
        return 0;
    }

    public int SetAttr(RequestContext context, in SetAttrIn request, out AttrOut reply)
    {
        Record("SetAttr", request.Size);
        reply = default;
        return 0;
    }

    public int Open(RequestContext context, in OpenIn request, out OpenOut reply)
    {
        Record("Open", request.Flags);
        reply = default;
        return 0;
    }

    public int Read(RequestContext context, in ReadIn request, Span<byte> destination)
    {
        Record("Read", request.Offset, request.Size);
        return 0;
    }

    public int Write(RequestContext context, in WriteIn request, ReadOnlySpan<byte> data)
    {
        Record("Write", request.Offset, Text(data));
        return data.Length;
    }

    public int Flush(RequestContext context, in FlushIn request) => Record("Flush", request.Handle);

    public int Fsync(RequestContext context, in FsyncIn request) => Record("Fsync", request.Handle);

    public int Release(RequestContext context, in ReleaseIn request) => Record("Release", request.Handle);

    public int Fallocate(RequestContext context, in FallocateIn request) =>
        Record("Fallocate", request.Handle, request.Offset, request.Length, request.Mode);

    public int OpenDirectory(RequestContext context, in OpenIn request, out OpenOut reply)
    {
        Record("OpenDirectory", request.Flags);
        reply = default;
        return 0;
    }

    public int ReadDirectory(RequestContext context, in ReadIn request, ref DirectoryEntryWriter entries)
    {
        Record("ReadDirectory", request.Offset, request.Size);
        return 0;
    }

    public int ReleaseDirectory(RequestContext context, in ReleaseIn request) => Record("ReleaseDirectory", request.Handle);

    public int Poll(RequestContext context, in PollIn request, out PollOut reply)
    {
        Record("Poll", request.KernelHandle);
        reply = default;
        return 0;
    }

    public int StatFs(RequestContext context, out StatFsOut reply)
    {
        Record("StatFs");
        reply = default;
        return 0;
    }

    public int MakeNode(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry)
    {
        Record("MakeNode", Text(name), Convert.ToString(mode, 8));
        entry = default;
        return 0;
    }

    public int MakeDirectory(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry)
    {
        Record("MakeDirectory", Text(name), Convert.ToString(mode, 8));
        entry = default;
        return 0;
    }

    public int Create(RequestContext context, ReadOnlySpan<byte> name, uint mode, int flags, out EntryOut entry, out OpenOut open)
    {
        Record("Create", Text(name), Convert.ToString(mode, 8), flags);
        entry = default;
        open = default;
        return 0;
    }

    public int Symlink(RequestContext context, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, out EntryOut entry)
    {
        Record("Symlink", Text(name), Text(target));
        entry = default;
        return 0;
    }

    public int Link(RequestContext context, ulong existingNodeId, ReadOnlySpan<byte> name, out EntryOut entry)
    {
        Record("Link", existingNodeId, Text(name));
        entry = default;
        return 0;
    }

    public int Unlink(RequestContext context, ReadOnlySpan<byte> name) => Record("Unlink", Text(name));

    public int RemoveDirectory(RequestContext context, ReadOnlySpan<byte> name) => Record("RemoveDirectory", Text(name));

    public int Rename(RequestContext context, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags) =>
        Record("Rename", Text(name), newParent, Text(newName), flags);

    public void Destroy() => Record("Destroy");

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    private int Record(string method, params object[] arguments)
    {
        _calls.Enqueue(string.Join(' ', arguments.Prepend(method)));
        return 0;
    }
}
