using System.Text.Json.Nodes;
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
/// transaction as the rows it adds.
/// </summary>
public sealed class KeyCeremony(ToolContext context)
{
    public const string CheckpointKeyId = "audit-checkpoint-1";
    public const string HmacKeyId = "resident-hmac-v1";

    private readonly List<string> _changes = [];

    private JpkiSettings Settings => context.Settings;

    private static string Actor => $"ceremony:{Environment.UserName}";

    /// <summary>Runs the ceremony; returns what it changed (empty when everything already existed).</summary>
    public IReadOnlyList<string> Run()
    {
        EnsureToken();
        var token = context.Token;
        using var pool = token.CreatePool("ceremony", 1);
        var database = context.Database;

        using var checkpointSigner = EnsureCheckpointKey(token, pool, database);
        var audit = new AuditLog(checkpointSigner, Settings.AuditOptions());
        RecordCheckpointKey(database, audit, checkpointSigner);
        EnsureHmacKey(token, database, audit);

        foreach (var prefecture in Settings.Prefectures)
        {
            foreach (var kind in new[] { IssuerKind.Signing, IssuerKind.Authentication })
            {
                EnsureIssuer(token, pool, database, audit, prefecture, kind);
            }
        }

        if (_changes.Count > 0)
        {
            // Close the ceremony with a signed checkpoint so its records are covered at once.
            audit.Checkpoint(database);
        }

        ExportCertificates(database);
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
        }

        return Pkcs11Signer.Open(pool, CheckpointKeyId);
    }

    private void RecordCheckpointKey(Database database, AuditLog audit, Pkcs11Signer signer)
    {
        using var tx = database.BeginWrite();
        if (IssuerStore.FindInstallKey(tx.Connection, CheckpointKeyId, tx.Transaction) is not null)
        {
            return;
        }

        var now = database.Time.GetUtcNow();
        var der = new CheckpointCertificateBuilder(signer, SignatureAlgorithm.EcdsaSha256).Build(new CheckpointCertificateRequest
        {
            InstallName = Settings.InstallName,
            KeyNumber = 1,
            SerialNumber = SerialNumbers.New(),
            IssuedAt = now,
        });
        IssuerStore.InsertInstallKey(tx, new InstallKeyRow
        {
            Id = CheckpointKeyId,
            Purpose = "audit-checkpoint",
            HsmKeyLabel = CheckpointKeyId,
            CertificateDer = der,
            CreatedUs = Instant.ToMicros(now),
        });
        audit.Append(tx, new AuditRecord(Actor, "ceremony.checkpoint-key.created", CheckpointKeyId, new JsonObject
        {
            ["hsmKeyLabel"] = CheckpointKeyId,
            ["certificateSha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(der)),
            ["publicKeyId"] = AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo),
        }));
        tx.Commit();
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
        var algorithm = SignatureAlgorithm.RsaPkcs1Sha256;
        byte[] rootDer;
        using (var tx = database.BeginWrite())
        {
            var key = IssuerStore.FindKey(tx.Connection, keyId, tx.Transaction);
            if (key?.CertificateDer is { } der)
            {
                rootDer = der;
            }
            else
            {
                var now = database.Time.GetUtcNow();
                var serial = SerialNumbers.New();
                rootDer = new RootCertificateBuilder(issuerSigner, algorithm).Build(new RootCertificateRequest
                {
                    Kind = kind,
                    Prefecture = prefecture.ToPrefecture(),
                    SerialNumber = serial,
                    IssuedAt = now,
                    ArlUrl = Settings.Urls.ArlUrl(keyId),
                    ValidityYears = Settings.Ceremony.RootValidityYears,
                });
                var certificate = new X509Certificate(rootDer);
                if (IssuerStore.FindIssuer(tx.Connection, issuerId, tx.Transaction) is null)
                {
                    IssuerStore.InsertIssuer(tx, new IssuerRow
                    {
                        Id = issuerId,
                        Prefecture = prefecture.Name,
                        Kind = kindText,
                        SubjectDn = certificate.SubjectDN.ToString(),
                        CreatedUs = Instant.ToMicros(now),
                    });
                }

                var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
                var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));
                IssuerStore.InsertKey(tx, new IssuerKeyRow
                {
                    Id = keyId,
                    IssuerId = issuerId,
                    Generation = 1,
                    HsmKeyLabel = keyId,
                    CertificateDer = rootDer,
                    NotBeforeUs = notBefore,
                    NotAfterUs = notAfter,
                    CreatedUs = Instant.ToMicros(now),
                });
                var serialHex = SerialNumbers.ToHex(serial);
                IssuerStore.InsertCertificate(tx, new IssuedCertificate(serialHex, keyId, "root", notBefore, notAfter, rootDer, Instant.ToMicros(now)));
                audit.Append(tx, new AuditRecord(Actor, "ceremony.root.issued", keyId, new JsonObject
                {
                    ["issuerId"] = issuerId,
                    ["serial"] = serialHex,
                    ["subject"] = certificate.SubjectDN.ToString(),
                    ["notAfterUs"] = notAfter,
                    ["certificateSha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(rootDer)),
                }));
                tx.Commit();
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
        using var tx = database.BeginWrite();
        var now = database.Time.GetUtcNow();
        var serial = SerialNumbers.New();
        var der = new ResponderCertificateBuilder(rootDer, issuerSigner, SignatureAlgorithm.RsaPkcs1Sha256).Build(new ResponderCertificateRequest
        {
            ResponderPublicKey = responderSigner.SubjectPublicKeyInfo,
            SerialNumber = serial,
            IssuedAt = now,
            Generation = 1,
            Validity = TimeSpan.FromDays(Settings.Ceremony.ResponderValidityDays),
        });
        var certificate = new X509Certificate(der);
        var notBefore = Instant.ToMicros(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero));
        var notAfter = Instant.ToMicros(new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero));
        var serialHex = SerialNumbers.ToHex(serial);
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(serialHex, keyId, "ocsp-responder", notBefore, notAfter, der, Instant.ToMicros(now)));
        IssuerStore.InsertResponder(tx, serialHex, keyId, label, notAfter, Instant.ToMicros(now));
        audit.Append(tx, new AuditRecord(Actor, "ceremony.ocsp-responder.issued", keyId, new JsonObject
        {
            ["serial"] = serialHex,
            ["hsmKeyLabel"] = label,
            ["notAfterUs"] = notAfter,
            ["certificateSha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(der)),
        }));
        tx.Commit();
        _changes.Add($"issued OCSP responder certificate for '{keyId}' (serial {serialHex})");
    }

    /// <summary>Writes every CA certificate as PEM under {home}/certs for operators and verifiers.</summary>
    private void ExportCertificates(Database database)
    {
        var dir = Path.Combine(Settings.Home, "certs");
        Directory.CreateDirectory(dir);
        using var db = database.OpenConnection();
        foreach (var issuer in IssuerStore.ListIssuers(db))
        {
            foreach (var key in IssuerStore.ListKeys(db, issuer.Id))
            {
                if (key.CertificateDer is { } root)
                {
                    WritePem(Path.Combine(dir, $"{key.Id}.pem"), root);
                }

                if (IssuerStore.FindCurrentResponder(db, key.Id) is { } responder)
                {
                    WritePem(Path.Combine(dir, $"{key.Id}-ocsp.pem"), responder.CertificateDer);
                }
            }
        }

        foreach (var key in IssuerStore.ListInstallKeys(db, "audit-checkpoint"))
        {
            if (key.CertificateDer is { } der)
            {
                WritePem(Path.Combine(dir, $"{key.Id}.pem"), der);
            }
        }
    }

    internal static void WritePem(string path, byte[] der)
    {
        var pem = new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", der)) + "\n";
        if (!File.Exists(path) || File.ReadAllText(path) != pem)
        {
            File.WriteAllText(path, pem);
        }
    }
}
