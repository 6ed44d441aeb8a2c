using System.Collections.Concurrent;

namespace BlkSnapFs.Nbd;

/// <summary>The exports a server currently offers, by name.</summary>
internal sealed class ExportDirectory
{
    private readonly ConcurrentDictionary<string, ExportRegistration> _exports = new(StringComparer.Ordinal);

    public bool TryAdd(NbdExport export) => _exports.TryAdd(export.Name, new ExportRegistration(export));

    public ExportRegistration? Find(string name) => _exports.TryGetValue(name, out var registration) ? registration : null;

    public ExportRegistration? Remove(string name) => _exports.TryRemove(name, out var registration) ? registration : null;

    public IReadOnlyList<NbdExport> Snapshot() =>
        [.. _exports.Values.Select(registration => registration.Export).OrderBy(export => export.Name, StringComparer.Ordinal)];
}
