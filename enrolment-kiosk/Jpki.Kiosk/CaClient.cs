using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Jpki.Kiosk;

/// <summary>An answer of the CA API: the HTTP status, the problem type's last segment on errors, and the JSON body.</summary>
public sealed record CaAnswer(int Status, string? Problem, JsonElement Body)
{
    public bool Ok => Status is >= 200 and < 300;

    /// <summary>The CA could not be reached at all.</summary>
    public bool Unreachable => Status == 0;

    public string? Member(string member) =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty(member, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>
/// The kiosk's calls to the CA API, each with the logged-in operator's own session token, so the
/// CA audits every read and issuance as that operator. The HttpClient is built here, not by
/// IHttpClientFactory, whose request log would write URLs.
/// </summary>
public sealed class CaClient(HttpClient http)
{
    // Optional members are left out rather than sent as null: the CA refuses what it does not expect.
    private static readonly JsonSerializerOptions RequestJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Throws unless the CA's <c>GET /readyz</c> answers 2xx: the kiosk's own readiness (it enrols through the CA).</summary>
    public async Task ReadyAsync(CancellationToken cancellation)
    {
        using var response = await http.GetAsync(new Uri("readyz", UriKind.Relative), cancellation);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"the CA is not ready ({(int)response.StatusCode})");
        }
    }

    public Task<CaAnswer> LoginAsync(string account, string password, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account, password }, null, cancellation);

    /// <summary>Ends the operator's CA session (<c>DELETE /api/v1/sessions/current</c>), so its token works nowhere after the logout.</summary>
    public Task<CaAnswer> EndSessionAsync(string token, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Delete, "api/v1/sessions/current", token, null, null, cancellation);

    /// <summary>Who a session token belongs to (<c>GET /api/v1/accounts/me</c>): id, role, municipalities.</summary>
    public Task<CaAnswer> MeAsync(string token, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Get, "api/v1/accounts/me", token, null, null, cancellation);

    public Task<CaAnswer> LookupAsync(string token, string residentCode, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, "api/v1/residents/lookup", token, new { residentCode, purpose = "enrolment" }, null, cancellation);

    public Task<CaAnswer> IssueAsync(string token, IssueRequest request, string idempotencyKey, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, "api/v1/certificates", token, request, idempotencyKey, cancellation);

    /// <summary>The resident's unexpired certificates (<c>POST /api/v1/residents/certificates</c>; the code stays in the body).</summary>
    public Task<CaAnswer> ListCertificatesAsync(string token, string residentCode, string purpose, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, "api/v1/residents/certificates", token, new { residentCode, purpose }, null, cancellation);

    public Task<CaAnswer> CertificateStatusAsync(string token, string serial, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Get, $"api/v1/certificates/{Uri.EscapeDataString(serial)}", token, null, null, cancellation);

    public Task<CaAnswer> ConfirmDeliveryAsync(string token, string serial, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, $"api/v1/certificates/{Uri.EscapeDataString(serial)}/delivery", token, null, null, cancellation);

    public Task<CaAnswer> RevokeAsync(string token, string serial, string cause, string residentCode, CancellationToken cancellation) =>
        SendAsync(HttpMethod.Post, $"api/v1/certificates/{Uri.EscapeDataString(serial)}/revocations", token, new { cause, residentCode }, null, cancellation);

    private async Task<CaAnswer> SendAsync(HttpMethod method, string path, string? token, object? body, string? idempotencyKey, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: RequestJson);
        }

        try
        {
            using var response = await http.SendAsync(request, cancellation);
            var text = await response.Content.ReadAsStringAsync(cancellation);
            var json = default(JsonElement);
            if (text.Length > 0)
            {
                try
                {
                    json = JsonDocument.Parse(text).RootElement.Clone();
                }
                catch (JsonException)
                {
                    // Not JSON (a proxy's error page): the status alone says enough.
                }
            }

            string? problem = null;
            if (!response.IsSuccessStatusCode && json.ValueKind == JsonValueKind.Object && json.TryGetProperty("type", out var type) && type.GetString() is { } urn)
            {
                problem = urn[(urn.LastIndexOf(':') + 1)..];
            }

            return new CaAnswer((int)response.StatusCode, problem, json);
        }
        catch (HttpRequestException)
        {
            return new CaAnswer(0, "ca-unreachable", default);
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return new CaAnswer(0, "ca-unreachable", default);
        }
    }
}

/// <summary>The body of POST /api/v1/certificates.</summary>
public sealed record IssueRequest(string ResidentCode, string Kind, string Csr, string WindowId, long? JukiSequence, IssueOverride? Override, string? Renews = null, string? CardExpiry = null);

public sealed record IssueOverride(string Reason);
