using System.Text.Json.Nodes;
using Jpki.Cli;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Store;
using Jpki.Hsm;
using Org.BouncyCastle.X509;

namespace Jpki.HsmTool;

/// <summary>
/// The first-run key ceremony (`./jpki hsm init`). For every configured prefecture it makes,
/// inside the token, the signing-CA and authentication-CA keys (generation 1) with their
/// self-signed roots, one delegated OCSP responder key and certificate per issuer key, and,
/// once per install, the resident-code HMAC key and the audit-checkpoint key with its
/// certificate. Each step checks what exists first, so a second run changes nothing, and a run
/// cut off halfway finishes the rest. Every step is an audit record written in the same
/// transaction as the rows it adds; every certificate is signed only after its signature intent
/// is committed (<see cref="CeremonyCertificates"/>). Each step is a line of
/// <paramref name="progress"/> with the time elapsed (RSA key generation takes seconds each).
/// </summary>
public sealed class KeyCeremony(ToolContext context, StepProgress? progress = null)
{
    public const string CheckpointKeyId = "audit-checkpoint-1";
    public const string HmacKeyId = "resident-hmac-v1";

    private readonly List<string> _changes = [];

    private JpkiSettings Settings => context.Settings;

    private static string Actor => $"ceremony:{Environment.UserName}";

    /// <summary>Runs the ceremony; returns what it changed (empty when everything already existed).</summary>
    public IReadOnlyList<string> Run()
    {
        var steps = progress ?? StepProgress.Silent;

        // The token, the checkpoint key, the HMAC key, each issuer (key, root, responder), the close.
        steps.Total = 4 + (Settings.Prefectures.Count * 2);
        steps.Step($"token '{Settings.TokenLabel}'");
        EnsureToken();
        var token = context.Token;
        using var pool = token.CreatePool("ceremony", 1);
        var database = context.Database;

        steps.Step($"audit-checkpoint key '{CheckpointKeyId}' and its certificate");
        using var checkpointSigner = EnsureCheckpointKey(token, pool, database);
        var audit = new AuditLog(checkpointSigner, Settings.AuditOptions());
        RecordCheckpointKey(database, audit, checkpointSigner);
        steps.Step($"resident-code HMAC key '{HmacKeyId}'");
        EnsureHmacKey(token, database, audit);

        foreach (var prefecture in Settings.Prefectures)
        {
            foreach (var kind in new[] { IssuerKind.Signing, IssuerKind.Authentication })
            {
                steps.Step($"issuer {prefecture.Slug}-{(kind == IssuerKind.Signing ? "signing" : "authentication")}: key, root certificate, OCSP responder");
                EnsureIssuer(token, pool, database, audit, prefecture, kind);
            }
        }

        steps.Step("closing checkpoint and PEM certificates");
        if (_changes.Count > 0)
        {
            // Close the ceremony with a signed checkpoint so its records are covered at once.
            audit.Checkpoint(database);
        }

        ExportCertificates(Settings, database);
        return _changes;
    }

    private void EnsureToken()
    {
        if (context.TokenExists)
        {
            return;
        }

        var soPin = ToolContext.CreateSecretFile(Settings.Resolve(Settings.Hsm.SoPinFile));
        var userPinVariable = Settings.Hsm.UserPinEnvironmentVariable;
        var userPin = Environment.GetEnvironmentVariable(userPinVariable) is { Length: > 0 }
            ? PinSource.FromEnvironment(userPinVariable).Read()
            : ToolContext.CreateSecretFile(Settings.Resolve(Settings.Hsm.UserPinFile));
        HsmToken.Initialise(context.Module, Settings.TokenLabel, soPin, userPin);
        Array.Clear(soPin);
        Array.Clear(userPin);
        _changes.Add($"initialised token '{Settings.TokenLabel}'");
    }

    private Pkcs11Signer EnsureCheckpointKey(HsmToken token, SessionPool pool, Database database)
    {
        using (var db = database.OpenConnection())
        {
            if (IssuerStore.FindInstallKey(db, CheckpointKeyId) is null && !token.HasKey(CheckpointKeyId))
            {
                token.GenerateKeyPair(KeyKind.EcP256, CheckpointKeyId);
                _changes.Add($"generated audit-checkpoint key '{CheckpointKeyId}' (P-256)");
            }

            // After a handover (decision 0421) the first key is destroyed: the current one signs.
            return Pkcs11Signer.Open(pool, IssuerStore.CurrentCheckpointKey(db)?.HsmKeyLabel ?? CheckpointKeyId);
        }
    }

    private void RecordCheckpointKey(Database database, AuditLog audit, Pkcs11Signer signer)
    {
        using (var db = database.OpenConnection())
        {
            if (IssuerStore.FindInstallKey(db, CheckpointKeyId) is not null)
            {
                return;
            }
        }

        if (!new CeremonyCertificates(Settings, database, audit, Actor).IssueCheckpointCertificate(signer, CheckpointKeyId))
        {
            return;
        }

        // The auditors write this down in the ceremony record: `audit verify --key-sha256` pins it.
        _changes.Add($"issued the audit-checkpoint key's certificate; its SubjectPublicKeyInfo SHA-256 (auditors: record it) is {AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo)}");
    }

    private void EnsureHmacKey(HsmToken token, Database database, AuditLog audit)
    {
        if (!token.HasKey(HmacKeyId))
        {
            token.GenerateHmacKey(HmacKeyId);
            _changes.Add($"generated resident-code HMAC key '{HmacKeyId}'");
        }

        using var tx = database.BeginWrite();
        if (IssuerStore.FindInstallKey(tx.Connection, HmacKeyId, tx.Transaction) is not null)
        {
            return;
        }

        IssuerStore.InsertInstallKey(tx, new InstallKeyRow
        {
            Id = HmacKeyId,
            Purpose = "resident-hmac",
            HsmKeyLabel = HmacKeyId,
            CreatedUs = Instant.NowMicros(database.Time),
        });
        audit.Append(tx, new AuditRecord(Actor, "ceremony.hmac-key.created", HmacKeyId, new JsonObject { ["hsmKeyLabel"] = HmacKeyId }));
        tx.Commit();
        _changes.Add($"recorded HMAC key '{HmacKeyId}'");
    }

    private void EnsureIssuer(HsmToken token, SessionPool pool, Database database, AuditLog audit, PrefectureSettings prefecture, IssuerKind kind)
    {
        var kindText = kind == IssuerKind.Signing ? "signing" : "authentication";
        var issuerId = $"{prefecture.Slug}-{kindText}";
        var keyId = $"{issuerId}-g1";

        using (var db = database.OpenConnection())
        {
            var existing = IssuerStore.FindKey(db, keyId);
            if (existing is null && !token.HasKey(keyId))
            {
                token.GenerateKeyPair(KeyKind.Rsa, keyId, Settings.Ceremony.RsaBits);
                _changes.Add($"generated issuer key '{keyId}' (RSA-{Settings.Ceremony.RsaBits})");
            }
            else if (existing is not null && !token.HasKey(existing.HsmKeyLabel))
            {
                throw new InvalidOperationException($"the store lists issuer key '{keyId}' but token '{token.Label}' has no key '{existing.HsmKeyLabel}': wrong token, or restore it from backup");
            }
        }

        using var issuerSigner = Pkcs11Signer.Open(pool, keyId);
        byte[]? rootDer;
        using (var db = database.OpenConnection())
        {
            rootDer = IssuerStore.FindKey(db, keyId)?.CertificateDer;
        }

        if (rootDer is null)
        {
            (rootDer, var serialHex) = new CeremonyCertificates(Settings, database, audit, Actor).IssueRoot(issuerSigner, prefecture, kind, issuerId, keyId);
            if (serialHex is not null)
            {
                _changes.Add($"issued root certificate of '{keyId}' (serial {serialHex})");
            }
        }

        EnsureResponder(token, pool, database, audit, keyId, issuerSigner, rootDer);
    }

    private void EnsureResponder(HsmToken token, SessionPool pool, Database database, AuditLog audit, string keyId, Pkcs11Signer issuerSigner, byte[] rootDer)
    {
        using (var db = database.OpenConnection())
        {
            if (IssuerStore.FindCurrentResponder(db, keyId) is not null)
            {
                return;
            }
        }

        var label = $"{keyId}-ocsp-1";
        if (!token.HasKey(label))
        {
            var responderKind = Settings.Ceremony.ResponderKey == "p256" ? KeyKind.EcP256 : KeyKind.Rsa;
            token.GenerateKeyPair(responderKind, label, Settings.Ceremony.RsaBits);
            _changes.Add($"generated OCSP responder key '{label}' ({responderKind})");
        }

        using var responderSigner = Pkcs11Signer.Open(pool, label);
        if (new CeremonyCertificates(Settings, database, audit, Actor).IssueResponder(issuerSigner, responderSigner, rootDer, keyId, label) is { } serialHex)
        {
            _changes.Add($"issued OCSP responder certificate for '{keyId}' (serial {serialHex})");
        }
    }

    /// <summary>
    /// Writes every CA certificate as PEM under {home}/certs for operators and verifiers: each
    /// generation's root (<c>{key}.pem</c>) with its published fingerprint (<c>{key}.sha256</c>),
    /// its current responder certificate, the link certificates between generations
    /// (<c>{certified key}-by-{signing key}.pem</c>) and the checkpoint key's certificate.
    /// </summary>
    internal static void ExportCertificates(JpkiSettings settings, Database database)
    {
        var dir = Path.Combine(settings.Home, "certs");
        Directory.CreateDirectory(dir);
        using var db = database.OpenConnection();
        foreach (var issuer in IssuerStore.ListIssuers(db))
        {
            foreach (var key in IssuerStore.ListKeys(db, issuer.Id))
            {
                if (key.CertificateDer is { } root)
                {
                    WritePem(Path.Combine(dir, $"{key.Id}.pem"), root);
                    if (key.PublishedUs is not null)
                    {
                        WriteText(Path.Combine(dir, $"{key.Id}.sha256"), RootFingerprint.Line(root));
                    }
                }

                if (IssuerStore.FindCurrentResponder(db, key.Id) is { } responder)
                {
                    WritePem(Path.Combine(dir, $"{key.Id}-ocsp.pem"), responder.CertificateDer);
                }
            }
        }

        foreach (var link in IssuerStore.ListIssuers(db).SelectMany(issuer => IssuerStore.ListLinks(db, issuer.Id)))
        {
            WritePem(Path.Combine(dir, link.FileName), link.CertificateDer);
        }

        foreach (var key in IssuerStore.ListInstallKeys(db, "audit-checkpoint"))
        {
            if (key.CertificateDer is { } der)
            {
                WritePem(Path.Combine(dir, $"{key.Id}.pem"), der);
            }
        }
    }

    internal static void WritePem(string path, byte[] der) =>
        WriteText(path, new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", der)) + "\n");

    private static void WriteText(string path, string text)
    {
        if (!File.Exists(path) || File.ReadAllText(path) != text)
        {
            File.WriteAllText(path, text);
        }
    }
}
