using System.Net;
using System.Net.Http.Headers;

namespace Jpki.Core.Audit;

/// <summary>
/// Somewhere outside the CA's control that keeps every checkpoint it is given and gives up none:
/// a directory (a mount of another user's or host's inbox) or an http(s) endpoint (docs/design.md §7,
/// docs/audit-witness.md). A push of a checkpoint the witness already holds is accepted when
/// identical and refused when different: the CA cannot rewrite what the witness holds.
/// </summary>
public interface IAuditWitness
{
    /// <summary>The target for logs and /healthz (an URL without query, or the directory).</summary>
    string Description { get; }

    /// <exception cref="AuditWitnessPushException">The witness did not take it.</exception>
    Task PushAsync(AuditCheckpointDocument document, CancellationToken cancellationToken);
}

/// <summary>A push the witness did not take; <see cref="Conflict"/> when it holds a different checkpoint at that seq.</summary>
public sealed class AuditWitnessPushException(string message, bool conflict = false, Exception? inner = null) : IOException(message, inner)
{
    public bool Conflict { get; } = conflict;
}

public static class AuditWitnesses
{
    /// <summary>The witness of <paramref name="target"/> (<see cref="AuditOptions.Witness"/>), or null for none.</summary>
    public static IAuditWitness? For(string? target, HttpClient http) =>
        target is not { Length: > 0 } ? null
        : target.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || target.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? new HttpAuditWitness(new Uri(target), http)
            : new DirectoryAuditWitness(target);

    /// <summary>The name a checkpoint's document has in a witness directory.</summary>
    public static string FileName(long seq) => $"checkpoint-{seq:D12}.json";
}

/// <summary>
/// One file per checkpoint (<c>checkpoint-000000000123.json</c>), written to a temporary name and
/// linked into place without replacing anything. The directory must exist: a missing mount must
/// fail the push, not fill a local directory of the same name.
/// </summary>
public sealed class DirectoryAuditWitness(string directory) : IAuditWitness
{
    public string Description => directory;

    public async Task PushAsync(AuditCheckpointDocument document, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (!Directory.Exists(directory))
        {
            throw new AuditWitnessPushException($"the witness directory {directory} does not exist (not mounted?)");
        }

        var bytes = document.ToUtf8Bytes();
        var target = Path.Combine(directory, AuditWitnesses.FileName(document.Seq));
        var temporary = Path.Combine(directory, $".{AuditWitnesses.FileName(document.Seq)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                await stream.WriteAsync(bytes, cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            if (File.Exists(target))
            {
                CheckHeld(target, bytes, document.Seq);
                return;
            }

            // Not File.Move(overwrite: false) over an existing file: that would be a race; the
            // move fails if another push got there first, and then the held copy is compared.
            File.Move(temporary, target, overwrite: false);
        }
        catch (IOException e) when (e is not AuditWitnessPushException && File.Exists(target))
        {
            CheckHeld(target, bytes, document.Seq);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not AuditWitnessPushException)
        {
            throw new AuditWitnessPushException($"writing to the witness directory {directory} failed: {e.Message}", inner: e);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static void CheckHeld(string target, byte[] bytes, long seq)
    {
        if (!File.ReadAllBytes(target).AsSpan().SequenceEqual(bytes))
        {
            throw new AuditWitnessPushException($"the witness already holds a different checkpoint at seq {seq} ({target})", conflict: true);
        }
    }
}

/// <summary>
/// POSTs the document (application/json) to the URL. 2xx: taken (or already held, identical);
/// 409: the witness holds a different checkpoint at that seq; anything else is retried.
/// </summary>
public sealed class HttpAuditWitness(Uri url, HttpClient http) : IAuditWitness
{
    public string Description { get; } = url.GetLeftPart(UriPartial.Path);

    public async Task PushAsync(AuditCheckpointDocument document, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        using var content = new ByteArrayContent(document.ToUtf8Bytes());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsync(url, content, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new AuditWitnessPushException($"the witness {Description} did not answer: {e.Message}", inner: e);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                throw new AuditWitnessPushException($"the witness {Description} holds a different checkpoint at seq {document.Seq} (409)", conflict: true);
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new AuditWitnessPushException($"the witness {Description} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }
        }
    }
}
