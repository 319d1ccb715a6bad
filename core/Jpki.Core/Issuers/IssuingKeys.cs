using Jpki.Core.Issuance;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Issuers;

/// <summary>
/// The issuer keys of the CA's issuance as the store lists them, each opened on the issuance pool when first
/// needed and kept until disposal. Which key signs a new certificate is read from the store at
/// each issuance (<see cref="IssuerStore.FindIssuingKey"/>): after a rollover's switch time the
/// new generation, before it the old one — a rollover made by the tool while the CA runs, or a
/// switch time passing, needs no restart.
/// </summary>
public sealed class IssuingKeys(Database database, SessionPool pool) : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, ActiveIssuerKey> opened = new(StringComparer.Ordinal);

    /// <summary>The key that signs new certificates of <paramref name="issuerId"/> at <paramref name="now"/>, or null (none active).</summary>
    /// <exception cref="HsmException">The key is in the store but cannot be opened in the token.</exception>
    public ActiveIssuerKey? For(string issuerId, DateTimeOffset now)
    {
        using var db = database.OpenConnection();
        return IssuerStore.FindIssuingKey(db, issuerId, Instant.ToMicros(now)) is { } key ? Open(db, key) : null;
    }

    /// <summary>Every active key with a certificate, of every issuer, whether it issues yet or still only signs CRLs and responders.</summary>
    public IReadOnlyList<ActiveIssuerKey> Active()
    {
        using var db = database.OpenConnection();
        return IssuerStore.ListIssuers(db)
            .SelectMany(issuer => IssuerStore.ListKeys(db, issuer.Id))
            .Where(k => k.State == "active" && k.CertificateDer is not null)
            .Select(k => Open(db, k))
            .ToList();
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var key in opened.Values)
            {
                key.PublicKey.Dispose();
                key.Signer.Dispose();
            }

            opened.Clear();
        }
    }

    private ActiveIssuerKey Open(System.Data.Common.DbConnection db, IssuerKeyRow key)
    {
        lock (gate)
        {
            if (opened.TryGetValue(key.Id, out var known))
            {
                return known;
            }

            var issuer = IssuerStore.FindIssuer(db, key.IssuerId)
                ?? throw new InvalidOperationException($"issuer key '{key.Id}' names issuer '{key.IssuerId}', which the store lacks");
            var signer = Pkcs11Signer.Open(pool, key.HsmKeyLabel);
            try
            {
                var active = new ActiveIssuerKey(issuer, key, signer, new IssuerPublicKey(key.CertificateDer!));
                opened[key.Id] = active;
                return active;
            }
            catch
            {
                signer.Dispose();
                throw;
            }
        }
    }
}
