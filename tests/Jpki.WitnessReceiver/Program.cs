using System.Text.Json;

// Usage: Jpki.WitnessReceiver <directory>
// An HTTP audit witness on 127.0.0.1 (a free port, printed as "listening on URL"): each POSTed
// checkpoint document is kept as <directory>/checkpoint-<seq, 12 digits>.json, mode 0444, in a
// directory this process creates (0755) and owns. Run as another user than the CA, nothing the CA
// process can do over HTTP rewrites what it holds: a push of a seq it holds is 200 when the bytes
// are the same and 409 when they differ; the file is never replaced. Not JSON with an integer
// checkpoint.seq: 400.
if (args.Length != 1)
{
    await Console.Error.WriteLineAsync("usage: Jpki.WitnessReceiver <directory>");
    return 2;
}

var directory = Path.GetFullPath(args[0]);
Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
var gate = new Lock();
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls("http://127.0.0.1:0");
var app = builder.Build();
app.MapPost("/", async (HttpRequest request) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body);
    var bytes = body.ToArray();
    long seq;
    try
    {
        using var document = JsonDocument.Parse(bytes);
        seq = document.RootElement.GetProperty("checkpoint").GetProperty("seq").GetInt64();
    }
    catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
    {
        return Results.BadRequest();
    }

    var path = Path.Combine(directory, $"checkpoint-{seq:D12}.json");
    lock (gate)
    {
        if (File.Exists(path))
        {
            return File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes) ? Results.Ok() : Results.Conflict();
        }

        using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        });
        file.Write(bytes);
        file.Flush(flushToDisk: true);
    }

    return Results.Created();
});
await app.StartAsync();
Console.WriteLine($"listening on {app.Urls.Single()}");
await app.WaitForShutdownAsync();
return 0;
