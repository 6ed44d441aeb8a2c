namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>Shell steps on file trees: fill them with random files, list their checksums.</summary>
public static class Files
{
    /// <summary>Writes <paramref name="count"/> random files of varied sizes named PREFIX-N.bin under DIR/PREFIX, then syncs.</summary>
    public static Task WriteRandomAsync(this TestMachine m, string dir, string prefix, int count, int kibPerStep = 37) =>
        m.ShOkAsync($"mkdir -p '{dir}/{prefix}'; for i in $(seq 1 {count}); do head -c $((i * {kibPerStep} * 1024 + i)) /dev/urandom > '{dir}/{prefix}/{prefix}-'$i.bin; done; " +
                    $"echo '{prefix} text' > '{dir}/{prefix}/readme.txt'; sync");

    /// <summary>"md5  ./path" lines for every file under DIR, sorted by path.</summary>
    public static Task<string> Md5ListAsync(this TestMachine m, string dir) =>
        m.ShOkAsync($"cd '{dir}' && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 -r md5sum");

    public static int LineCount(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
}
