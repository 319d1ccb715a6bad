using System.Diagnostics;
using System.Text.Json;
using Jpki.Core.Configuration;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.CrlPublisher.Tests;

/// <summary>A certificate the CA issued over HTTP in the fixture, as PEM on disk.</summary>
public sealed record IssuedLeaf(string Serial, string IssuerKeyId, string Municipality, string PemPath);

/// <summary>
/// The CA tests' install (ceremony, SoftHSM, CA API on port 0) plus a CRL publisher on
/// 127.0.0.1 port 0 over the same SQLite store and token, without its schedule: tests publish
/// by hand. A few certificates are issued through the CA API in two municipalities.
/// </summary>
public sealed class CrlFixture : IAsyncLifetime
{
    public const string SigningKey = "yamaguchi-ken-signing-g1";

    private WebApplication? publisher;

    /// <summary>The publisher app's services (e.g. its EndpointDataSource).</summary>
    public IServiceProvider PublisherServices => publisher!.Services;

    public CaFixture Ca { get; } = new();

    public JpkiSettings Settings { get; private set; } = null!;

    public CrlPublisherServices Services { get; private set; } = null!;

    public Uri Address { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    /// <summary>The publisher's mutual-TLS listener (same publisher as <see cref="Address"/>).</summary>
    public Uri TlsAddress { get; private set; } = null!;

    /// <summary>Server and client certificates for <see cref="TlsAddress"/>, made by openssl.</summary>
    public MutualTlsFiles Tls { get; private set; } = null!;

    /// <summary>What the next publication does to its temporary file before the check (null: nothing).</summary>
    public Action<string>? Damage { get; set; }

    public string RootPem => Ca.RootPemPath(SigningKey);

    public async Task InitializeAsync()
    {
        await Ca.InitializeAsync();
        var settings = JpkiSettings.Load(Ca.Home);
        Tls = MutualTlsFiles.Create(Path.Combine(Ca.Root, "tls"));
        Settings = settings with
        {
            Hsm = settings.Hsm with { TokenLabel = Ca.TokenLabel },
            Crl = settings.Crl with { MutualTls = new MutualTlsSettings { Listen = "https://127.0.0.1:0", CertificateFile = Tls.ServerCertificate, KeyFile = Tls.ServerKey } },
        };
        publisher = CrlHost.Build(Settings, Ca.Module, new CrlHostOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            Schedule = false,
            PublishMissingAtStart = false,
            AfterWrite = path => Damage?.Invoke(path),
            ClockSource = FakeClockSyncSource.Synchronised(),
        });
        await publisher.StartAsync();
        Address = new Uri(publisher.Urls.Single(u => u.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/') + "/");
        TlsAddress = new Uri(publisher.Urls.Single(u => u.StartsWith("https://", StringComparison.Ordinal)).TrimEnd('/') + "/");
        Services = publisher.Services.GetRequiredService<CrlPublisherServices>();
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (publisher is not null)
        {
            await publisher.StopAsync();
            await publisher.DisposeAsync();
        }

        await Ca.DisposeAsync();
    }

    /// <summary>Issues a signing certificate over the CA API for a new resident of <paramref name="municipality"/>.</summary>
    public async Task<IssuedLeaf> IssueAsync(string municipality = "352012", string kind = "signing")
    {
        var address = municipality switch
        {
            "352012" => "山口県山口市亀山町１－２",
            "352021" => "山口県下関市南部町１－１",
            _ => "山口県宇部市常盤町１－７",
        };
        var code = await Ca.AddResidentAsync(municipalityCode: municipality, address: address);
        var (status, body, _) = await Ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new
        {
            residentCode = code,
            kind,
            csr = Ca.NewCardCsr(),
            windowId = "WIN00001A",
            jukiSequence = 0,
        });
        Assert.True(status == 201, body.ToString());
        var serial = body.GetProperty("serial").GetString()!;
        var pem = Path.Combine(Ca.Root, serial + ".pem");
        File.WriteAllText(pem, body.GetProperty("certificatePem").GetString());
        return new IssuedLeaf(serial, body.GetProperty("issuerKeyId").GetString()!, municipality, pem);
    }

    /// <summary>Revokes through the CA's one revocation path (status, status_changes, audit in one transaction).</summary>
    public void Revoke(string serial, RevocationCause cause = RevocationCause.Death, DateOnly? invalidityDate = null)
    {
        using var tx = Services.Database.BeginWrite();
        var result = new CertificateRevoker(Services.Audit).Revoke(tx, new RevocationOrder
        {
            Serial = serial,
            Cause = cause,
            Source = "test",
            Actor = "officer1",
            InvalidityDate = invalidityDate,
        });
        tx.Commit();
        Assert.True(result.Changed, result.Outcome.ToString());
    }

    public long Scalar(string sql, object? parameters = null)
    {
        using var db = Services.Database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, sql, parameters);
    }

    public void Execute(string sql, object? parameters = null)
    {
        using var tx = Services.Database.BeginWrite();
        tx.Execute(sql, parameters);
        tx.Commit();
    }

    public string PathOf(CrlSeries series, bool delta = false) => Services.Publisher.PathOf(series, delta);

    /// <summary>
    /// An audit log for a store that is not the fixture's (a copy, an engine's own store): the
    /// checkpoint key from the token, checkpoints to <paramref name="checkpointFile"/>, no witness.
    /// Never the fixture's log: its checkpoints of another chain would land in the fixture's
    /// checkpoint file, and `./jpki audit verify` of the fixture would then fail. Dispose the signer after.
    /// </summary>
    public (Jpki.Core.Audit.AuditLog Log, IDisposable Signer) AuditOfAnotherStore(string checkpointFile)
    {
        string label;
        using (var db = Services.Database.OpenConnection())
        {
            label = Jpki.Core.Issuers.IssuerStore.FindInstallKey(db, CrlPublisherServices.CheckpointKeyId)!.HsmKeyLabel;
        }

        var signer = Pkcs11Signer.Open(Services.Pool, label);
        var settings = Settings with { Audit = Settings.Audit with { CheckpointFile = checkpointFile, Witness = null } };
        return (new Jpki.Core.Audit.AuditLog(signer, settings.AuditOptions()), signer);
    }

    /// <summary>A DER CRL converted to PEM next to it (openssl verify -CRLfile reads PEM).</summary>
    public string ToPem(string derPath, string name)
    {
        var pem = Path.Combine(Ca.Root, name + ".pem");
        var result = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", derPath, "-outform", "PEM", "-out", pem);
        Assert.True(result.ExitCode == 0, result.Output);
        return pem;
    }

    /// <summary>A copy of a published file, so later publications cannot change what a test inspects.</summary>
    public string Snapshot(string path, string name)
    {
        var copy = Path.Combine(Ca.Root, name);
        File.Copy(path, copy, overwrite: true);
        return copy;
    }

    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}

[CollectionDefinition(Name)]
public sealed class CrlTestGroup : ICollectionFixture<CrlFixture>
{
    public const string Name = "crl";
}

/// <summary>A clock moved by a fixed offset from the real one (staleness and expiry tests).</summary>
public sealed class ShiftedTime(TimeSpan offset) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
}
