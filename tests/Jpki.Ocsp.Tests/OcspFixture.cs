using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuance;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// One install per test class collection: the key ceremony as a child process into a temporary
/// JPKI_HOME with its own SoftHSM store, then this process loads the module (one per process),
/// issues end-entity certificates with the real issuer keys in the token (stored through the
/// store's own insert, so status_changes has their 'good' rows), registers verifier accounts,
/// and hosts the responder on 127.0.0.1 port 0. A second responder on the same install allows
/// 127.0.0.0/8 without credentials, for clients that cannot send a header (ocsptool).
/// </summary>
public sealed partial class OcspFixture : IAsyncLifetime
{
    public const string Verifier = "verifier-a";
    public const string OtherVerifier = "verifier-b";
    public const string DisabledVerifier = "verifier-disabled";
    public const string Operator = "operator-x";
    public const string UnknownsVerifier = "verifier-unknowns";

    private WebApplication? responder;
    private WebApplication? networkResponder;
    private HsmToken? token;
    private SessionPool? pool;
    private readonly Dictionary<string, Pkcs11Signer> issuerSigners = [];
    private CertificateRevoker? revoker;
    private AuditLog? audit;
    private readonly AsymmetricCipherKeyPair subjectKey = NewSubjectKey();

    public string Root { get; } = System.IO.Directory.CreateTempSubdirectory("jpki-ocsp-tests-").FullName;

    public string Home => Path.Combine(Root, "home");

    public string ConfPath => Path.Combine(Root, "softhsm2.conf");

    /// <summary>A second install (own store and token, same SoftHSM store) whose OCSP responder keys are P-256.</summary>
    public string P256Home => Path.Combine(Root, "home-p256");

    public string P256TokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public string TokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    /// <summary>A third install (own token, same SoftHSM store) whose store is a database on the run's PostgreSQL server.</summary>
    public string PostgresHome => Path.Combine(Root, "home-pg");

    public string PostgresTokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    private readonly string postgresDatabaseName = "jpki_ocsp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    /// <summary>Why the PostgreSQL install could not be made (no server: JPKI_TEST_PG unset and no binaries); its tests fail with it.</summary>
    public Exception? PostgresInstallError { get; private set; }

    public string ModulePath { get; } = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    public Pkcs11Module Module { get; private set; } = null!;

    public JpkiSettings Settings { get; private set; } = null!;

    public Database Database { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public Uri Address { get; private set; } = null!;

    public Uri NetworkAddress { get; private set; } = null!;

    /// <summary>The responder's mutual-TLS listener (same responder as <see cref="Address"/>).</summary>
    public Uri TlsAddress { get; private set; } = null!;

    /// <summary>Server and client certificates for <see cref="TlsAddress"/>, made by openssl.</summary>
    public MutualTlsFiles Tls { get; private set; } = null!;

    /// <summary>The responder's warnings and errors (kept in /tmp/jpki-ocsp-tests-last.log after the run).</summary>
    public string LogPath => Path.Combine(Root, "ocsp.log");

    public Dictionary<string, string> Tokens { get; } = [];

    /// <summary>Issuer key ids of the install (signing and authentication).</summary>
    public IReadOnlyList<string> IssuerKeyIds { get; private set; } = [];

    public SignatureCounter Signatures => responder!.Services.GetRequiredService<SignatureCounter>();

    public IssuerDirectory Directory => responder!.Services.GetRequiredService<IssuerDirectory>();

    /// <summary>The CA's responder renewal over this install's token, renewing once a responder is <paramref name="renewAfter"/> old.</summary>
    public ResponderRenewal Renewal(TimeSpan renewAfter) =>
        new(Database, token!, pool!, audit!, CeremonySettingsView.From(Settings.Ceremony) with { RenewAfter = renewAfter });

    public Pkcs11Signer IssuerSigner(string issuerKeyId) => issuerSigners[issuerKeyId];

    public StatusChangeWatcher Watcher => responder!.Services.GetRequiredService<StatusChangeWatcher>();

    /// <summary>A service of the token-and-TLS responder (<see cref="Address"/>), e.g. its archive job.</summary>
    public T Service<T>()
        where T : notnull => responder!.Services.GetRequiredService<T>();

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Path.Combine(Root, "tokens"));
        System.IO.Directory.CreateDirectory(Home);
        File.WriteAllText(ConfPath, $"directories.tokendir = {Path.Combine(Root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        RunCeremony();

        // A second install in the same SoftHSM store (SoftHSM sees only tokens that exist when the
        // module loads, and the module loads once per process), its responders on P-256 keys.
        JpkiSettings.Load(P256Home); // writes the defaults
        var p256File = Path.Combine(P256Home, JpkiSettings.FileName);
        var p256Json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(p256File))!;
        p256Json["ceremony"]!["responderKey"] = "p256";
        File.WriteAllText(p256File, p256Json.ToJsonString());
        TestInstall.RunCeremony(P256Home, ConfPath, P256TokenLabel, ModulePath);
        CreatePostgresInstall();
        Module = Pkcs11Module.Load(ModulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfPath });
        var loaded = JpkiSettings.Load(Home);
        Tls = MutualTlsFiles.Create(Path.Combine(Root, "tls"));
        Settings = loaded with
        {
            Hsm = loaded.Hsm with { TokenLabel = TokenLabel },
            Ocsp = loaded.Ocsp with { MutualTls = new MutualTlsSettings { Listen = "https://127.0.0.1:0", CertificateFile = Tls.ServerCertificate, KeyFile = Tls.ServerKey }, UnknownSignaturesBurst = 3, UnknownSignaturesPerMinute = 1, NonceSignaturesBurst = 2, NonceSignaturesPerMinute = 1, StatusPollMilliseconds = 100 },
        };
        Database = new Database(Settings.ConnectionString, TimeProvider.System);
        Migrator.ApplyPending(Database);
        OpenIssuerKeys();
        Tokens[Verifier] = AddAccount(Verifier, AccountRole.Verifier);
        Tokens[OtherVerifier] = AddAccount(OtherVerifier, AccountRole.Verifier);
        Tokens[DisabledVerifier] = AddAccount(DisabledVerifier, AccountRole.Verifier);
        Tokens[Operator] = AddAccount(Operator, AccountRole.Operator);
        Tokens[UnknownsVerifier] = AddAccount(UnknownsVerifier, AccountRole.Verifier);

        responder = OcspHost.Build(Settings, Module, new OcspOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            RememberTokensFor = TimeSpan.FromMilliseconds(200),
            ConfigureLogging = logging => logging.AddProvider(new FileLoggerProvider(LogPath)),
        });
        await responder.StartAsync();
        Address = new Uri(responder.Urls.Single(u => u.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/') + "/");
        TlsAddress = new Uri(responder.Urls.Single(u => u.StartsWith("https://", StringComparison.Ordinal)).TrimEnd('/') + "/");

        var networkSettings = Settings with { Ocsp = Settings.Ocsp with { AllowedNetworks = ["127.0.0.0/8"], MutualTls = null } };
        networkResponder = OcspHost.Build(networkSettings, Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await networkResponder.StartAsync();
        NetworkAddress = new Uri(networkResponder.Urls.Single().TrimEnd('/') + "/");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        foreach (var app in new[] { responder, networkResponder })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        foreach (var signer in issuerSigners.Values)
        {
            signer.Dispose();
        }

        pool?.Dispose();
        token?.Dispose();
        Database.Dispose();
        if (PostgresInstallError is null)
        {
            Npgsql.NpgsqlConnection.ClearAllPools();
            PostgresServer.Shared.Execute($"DROP DATABASE IF EXISTS {postgresDatabaseName} WITH (FORCE)");
        }
        if (File.Exists(LogPath))
        {
            File.Copy(LogPath, Path.Combine(Path.GetTempPath(), "jpki-ocsp-tests-last.log"), overwrite: true);
        }

        try
        {
            System.IO.Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public string RootPemPath(string issuerKeyId) => Path.Combine(Home, "certs", issuerKeyId + ".pem");

    public string SigningKeyId => IssuerKeyIds.Single(id => id.Contains("-signing-", StringComparison.Ordinal));

    public string AuthenticationKeyId => IssuerKeyIds.Single(id => id.Contains("-authentication-", StringComparison.Ordinal));

    /// <summary>An end-entity certificate signed by the issuer key in the token and recorded in the store as 'good'; returns its serial and PEM path.</summary>
    public (string Serial, string PemPath) Issue(string issuerKeyId, string kind = "signing") => Issue(Database, issuerSigners[issuerKeyId], issuerKeyId, kind);

    /// <summary>The same in another install's store, signed by <paramref name="issuerSigner"/> (that install's issuer key).</summary>
    public (string Serial, string PemPath) Issue(Database database, Jpki.Hsm.ISigner issuerSigner, string issuerKeyId, string kind = "signing")
    {
        ArgumentNullException.ThrowIfNull(database);
        using var db = database.OpenConnection();
        var key = IssuerStore.FindKey(db, issuerKeyId)!;
        var issuer = new X509Certificate(key.CertificateDer!);
        var serial = SerialNumbers.New();
        var now = DateTimeOffset.UtcNow;
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(serial);
        generator.SetIssuerDN(issuer.SubjectDN);
        generator.SetSubjectDN(new X509Name("C=JP, CN=ocsp-test-" + SerialNumbers.ToHex(serial)[..8]));
        generator.SetNotBefore(now.AddMinutes(-5).UtcDateTime);
        generator.SetNotAfter(now.AddDays(30).UtcDateTime);
        generator.SetPublicKey(subjectKey.Public);
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(issuer));
        var certificate = generator.Generate(new SignerSignatureFactory(issuerSigner, SignatureAlgorithm.RsaPkcs1Sha256));
        var hex = SerialNumbers.ToHex(serial);
        using (var tx = database.BeginWrite())
        {
            IssuerStore.InsertCertificate(tx, new Jpki.Core.Issuers.IssuedCertificate(
                hex, issuerKeyId, kind, Instant.ToMicros(now.AddMinutes(-5)), Instant.ToMicros(now.AddDays(30)), certificate.GetEncoded(), Instant.ToMicros(now)));
            tx.Commit();
        }

        var path = Path.Combine(Root, hex + ".pem");
        File.WriteAllText(path, Pem("CERTIFICATE", certificate.GetEncoded()));
        return (hex, path);
    }

    /// <summary>
    /// A certificate made by the CA's own issuer (<see cref="CertificateIssuer"/>: the full JPKI profile, critical
    /// certificatePolicies with a CPS qualifier, AIA and the municipality CRL DP) with the issuer key in the token,
    /// recorded as 'good'. Authentication kind, so no resident facts are needed.
    /// </summary>
    /// <param name="record">False: signed by the issuer key but never recorded in the store (the responder answers 'unknown').</param>
    public (string Serial, string PemPath) IssueJpki(string issuerKeyId, bool record = true)
    {
        using var db = Database.OpenConnection();
        var key = IssuerStore.FindKey(db, issuerKeyId)!;
        var prefecture = Settings.Prefectures[0];
        var serial = SerialNumbers.New();
        var now = DateTimeOffset.UtcNow;
        var validity = CertificateValidity.Compute(now, new JpkiBirthDate(3, 1980, 2, 29), IssuerKind.Authentication, cardExpiry: null, authCertificateNotAfter: null, Instant.FromMicros(key.NotAfterUs));
        var holder = subjectKey.Public;
        var issued = CertificateIssuer.Issue(
            new EndEntityRequest
            {
                Kind = IssuerKind.Authentication,
                Prefecture = prefecture.ToPrefecture(),
                MunicipalityCode = "352012",
                MunicipalityName = "Yamaguchi-shi",
                SubjectId = "A" + Convert.ToHexString(RandomNumberGenerator.GetBytes(11)),
                SubjectPublicKeyInfo = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(holder).GetDerEncoded(),
                SerialNumber = serial,
                Validity = validity,
                CrlBaseUrl = Settings.Urls.CrlBase,
                OcspBaseUrl = Settings.Urls.OcspBase,
                CpsUrl = Settings.Urls.Cps,
                IssuerKeyId = issuerKeyId,
                IssuerCertificate = key.CertificateDer!,
            },
            issuerSigners[issuerKeyId]);
        var hex = SerialNumbers.ToHex(serial);
        var path = Path.Combine(Root, hex + ".pem");
        File.WriteAllText(path, Pem("CERTIFICATE", issued.Der));
        if (!record)
        {
            return (hex, path);
        }

        using (var tx = Database.BeginWrite())
        {
            IssuerStore.InsertCertificate(tx, new Jpki.Core.Issuers.IssuedCertificate(
                hex, issuerKeyId, "authentication", Instant.ToMicros(validity.NotBefore), Instant.ToMicros(validity.NotAfter), issued.Der, Instant.ToMicros(now)));
            tx.Commit();
        }

        return (hex, path);
    }

    /// <summary>Revokes through the CA's own revoker (status, status_changes and audit in one transaction).</summary>
    public RevocationResult Revoke(string serial, RevocationCause cause)
    {
        using var tx = Database.BeginWrite();
        var result = revoker!.Revoke(tx, new RevocationOrder { Serial = serial, Cause = cause, Source = "test", Actor = "officer1" });
        tx.Commit();
        return result;
    }

    /// <summary>A new verifier account (for tests that change it); returns its token.</summary>
    public string AddVerifier(string id) => AddAccount(id, AccountRole.Verifier);

    /// <summary>Registers a client certificate (PEM file) to an account, as the CA API does.</summary>
    public string RegisterClientCertificate(string account, string certificatePemPath)
    {
        using var certificate = ClientCertificateStore.Parse(File.ReadAllText(certificatePemPath));
        using var tx = Database.BeginWrite();
        var registration = ClientCertificateStore.Register(tx, account, certificate);
        tx.Commit();
        return registration.Sha256;
    }

    public void Disable(string account)
    {
        using var tx = Database.BeginWrite();
        AccountStore.Disable(tx, account);
        tx.Commit();
    }

    public long Count(string sql, object? parameters = null)
    {
        using var db = Database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, sql, parameters);
    }

    public static string Pem(string label, byte[] der) =>
        $"-----BEGIN {label}-----\n{Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)}\n-----END {label}-----\n";

    private void OpenIssuerKeys()
    {
        token = HsmToken.Open(Module, TokenLabel, PinSource.FromFile(Settings.Resolve(Settings.Hsm.UserPinFile)));
        pool = token.CreatePool("test-issuance", 1);
        using var db = Database.OpenConnection();
        var ids = new List<string>();
        foreach (var issuer in IssuerStore.ListIssuers(db))
        {
            foreach (var key in IssuerStore.ListKeys(db, issuer.Id))
            {
                issuerSigners[key.Id] = Pkcs11Signer.Open(pool, key.HsmKeyLabel);
                ids.Add(key.Id);
            }
        }

        IssuerKeyIds = ids;
        var checkpoint = IssuerStore.FindInstallKey(db, "audit-checkpoint-1")!;
        var checkpointSigner = Pkcs11Signer.Open(pool, checkpoint.HsmKeyLabel);
        issuerSigners["audit-checkpoint-1"] = checkpointSigner;
        audit = new AuditLog(checkpointSigner, Settings.AuditOptions());
        revoker = new CertificateRevoker(audit);
    }

    public string AddAccount(string id, AccountRole role)
    {
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using var tx = Database.BeginWrite();
        AccountStore.Insert(tx, new Account(id, role, [], false), AccountStore.TokenHash(secret));
        tx.Commit();
        return secret;
    }

    private static AsymmetricCipherKeyPair NewSubjectKey()
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new KeyGenerationParameters(new SecureRandom(), 2048));
        return generator.GenerateKeyPair();
    }

    private void RunCeremony() => TestInstall.RunCeremony(Home, ConfPath, TokenLabel, ModulePath);
}

[CollectionDefinition(Name)]
public sealed class OcspTestGroup : ICollectionFixture<OcspFixture>
{
    public const string Name = "ocsp";
}
