using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>What a control reply must look like: ok, or the errno with its strerror text.</summary>
public static class ReplyAssert
{
    public static JsonObject Ok(JsonObject reply)
    {
        Assert.True(reply["ok"]!.GetValue<bool>(), reply.ToJsonString());
        return reply;
    }

    /// <summary>The failure's message, after checking its errno and strerror text.</summary>
    public static string Fails(int errno, JsonObject reply)
    {
        Assert.False(reply["ok"]!.GetValue<bool>(), reply.ToJsonString());
        Assert.Equal((Errno.Name(errno), Errno.Describe(errno)), (Errno.Name(reply["errno"]!.GetValue<int>()), reply["error"]!.GetValue<string>()));
        return reply["message"]!.GetValue<string>();
    }
}
