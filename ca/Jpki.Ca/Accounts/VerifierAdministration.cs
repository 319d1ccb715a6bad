using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Ca.Accounts;

/// <summary>
/// Officers see the registered verifiers (accounts with role verifier: who may query OCSP and
/// fetch CRLs) and their client certificates, and remove a client certificate at once (taking
/// access away needs no second officer; registering one does, see <see cref="AccountAdministration"/>).
/// </summary>
public sealed class VerifierAdministration(CaServices services)
{
    public async Task<IResult> ListVerifiersAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        return Results.Json(
            AccountStore.ListByRole(db, AccountRole.Verifier).Select(a => new VerifierAnswer(a.Id, a.Disabled)),
            ApiJson.Options);
    }

    public async Task<IResult> ListClientCertificatesAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        if (AccountStore.Find(db, id) is null)
        {
            return AccountChanges.AccountNotFound();
        }

        return Results.Json(
            ClientCertificateStore.List(db, id).Select(r => new ClientCertificateAnswer(r.Account, r.Sha256, r.Subject, Instant.FromMicros(r.NotBeforeUs), Instant.FromMicros(r.NotAfterUs))),
            ApiJson.Options);
    }

    public async Task<IResult> RemoveClientCertificateAsync(string id, string sha256, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var officer = context.Caller();
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (!ClientCertificateStore.Remove(tx, id, sha256.ToLowerInvariant()))
        {
            return ProblemTypes.Problem(404, ProblemTypes.ClientCertificateNotFound, "no such client certificate", "this account has no client certificate with this SHA-256");
        }

        services.Audit.Append(tx, new AuditRecord(officer.Id, "account.client-certificate-removed", id, new JsonObject { ["sha256"] = sha256.ToLowerInvariant() }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.NoContent();
    }
}

/// <summary>A verifier account (who may query OCSP and fetch CRLs) and whether it is disabled.</summary>
public sealed record VerifierAnswer(string Id, bool Disabled);
