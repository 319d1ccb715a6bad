using System.Diagnostics;
using System.Text.Json;
using Jpki.Card;
using Jpki.Core.Configuration;
using Jpki.CrlPublisher;
using Jpki.Ocsp;
using Jpki.Tsa;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.Verifier.Tests;

/// <summary>A resident's signature made on a simulated card: the document, the .p7s and the certificate.</summary>
public sealed record SignedDocument(string Serial, string IssuerKeyId, string DocumentPath, string SignaturePath, string CertificatePem, DateTimeOffset NotBefore, DateTimeOffset NotAfter)
{
    public byte[] Content => File.ReadAllBytes(DocumentPath);

    public byte[] Signature => File.ReadAllBytes(SignaturePath);
}

/// <summary>A certificate the install's CA issued for a key in software, and that key (PKCS#8 PEM).</summary>
public sealed record ExportedKey(string Serial, string IssuerKeyId, string CertificatePem, string PrivateKeyPem);

/// <summary>
/// A whole install on 127.0.0.1 port 0: the CA tests' fixture (ceremony child process, SoftHSM,
/// CA API, Juki-Net simulator), an OCSP responder and a CRL publisher (no schedule: tests publish)
/// over the same store and token, and simulated resident cards (Jpki.Card) in the same SoftHSM
/// store that make the CMS detached signatures.
/// </summary>
public sealed class VerifierFixture : IAsyncLifetime
{
    public const string SigningPin = "ABC123";
    public const string AuthenticationPin = "1234";

    /// <summary>The TSA policy the fixture's jpki.json names (tsa.policyOid), under the example arc.</summary>
    public const string TsaPolicy = "2.999.35.7";

    private WebApplication? ocsp;
    private WebApplication? crl;
    private WebApplication? tsa;

    public CaFixture Ca { get; } = new();

    public CardReader Cards { get; private set; } = null!;

    public Uri OcspUrl { get; private set; } = null!;

    public Uri CrlAddress { get; private set; } = null!;

    public CrlPublisherServices CrlServices { get; private set; } = null!;

    /// <summary>The install's time-stamping service (POST), its key made by <c>jpki tsa init</c>.</summary>
    public Uri TsaUrl { get; private set; } = null!;

    /// <summary>The running time-stamping service's services (its mapped endpoints).</summary>
    public IServiceProvider TsaServices => tsa!.Services;

    public string TsaCertificatePath => Path.Combine(Ca.Home, "tsa", "tsa.pem");

    /// <summary>What <c>jpki tsa init</c> printed (the verb run as a child process, as ./jpki runs it).</summary>
    public ProcessResult TsaInit { get; private set; } = null!;

    public string Work => Path.Combine(Ca.Root, "work");

    public string RootsDirectory => Path.Combine(Ca.Home, "certs");

    public string VerifierToken => Ca.Tokens["verifier"];

    public string VerifierTokenFile => Path.Combine(Ca.Home, "secrets", "verifier.token");

    public async Task InitializeAsync()
    {
        await Ca.InitializeAsync();
        Directory.CreateDirectory(Work);
        var loaded = JpkiSettings.Load(Ca.Home);
        var settings = loaded with { Hsm = loaded.Hsm with { TokenLabel = Ca.TokenLabel } };
        ocsp = OcspHost.Build(settings with { Ocsp = settings.Ocsp with { StatusPollMilliseconds = 100 } }, Ca.Module, new OcspOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            ConfigureLogging = logging => logging.ClearProviders(),
        });
        await ocsp.StartAsync();
        OcspUrl = new Uri(ocsp.Urls.Single().TrimEnd('/') + "/ocsp");

        crl = CrlHost.Build(settings, Ca.Module, new CrlHostOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            Schedule = false,
            PublishMissingAtStart = false,
            ConfigureLogging = logging => logging.ClearProviders(),
            ClockSource = FakeClockSyncSource.Synchronised(),
        });
        await crl.StartAsync();
        CrlAddress = new Uri(crl.Urls.Single().TrimEnd('/') + "/");
        CrlServices = crl.Services.GetRequiredService<CrlPublisherServices>();

        TsaInit = RunTsa("init");
        Assert.True(TsaInit.ExitCode == 0, TsaInit.ToString());
        tsa = TsaHost.Build(settings with { Tsa = settings.Tsa with { PolicyOid = TsaPolicy } }, Ca.Module, new TsaOptions { ListenUrl = "http://127.0.0.1:0", ConfigureLogging = logging => logging.ClearProviders() });
        await tsa.StartAsync();
        TsaUrl = new Uri(tsa.Urls.Single().TrimEnd('/') + "/tsa");

        var cards = CardStore.ForHome(Ca.Home);
        cards.EnsureDirectory();
        // `jpki card sign` (a child process) finds the same SoftHSM store through {home}/cards/softhsm2.conf.
        File.Copy(Ca.ConfPath, cards.SoftHsmConfPath, overwrite: true);
        Cards = new CardReader(Ca.Module, cards, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        foreach (var app in new[] { ocsp, crl, tsa })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        await Ca.DisposeAsync();
    }

    /// <summary>
    /// A new resident, a card personalised for them, both certificates issued over the CA API and
    /// written on the card, and a document signed on the card (CardReader.SignDetached, what
    /// <c>jpki card sign</c> runs).
    /// </summary>
    public async Task<SignedDocument> SignAsync(string name = "山田　花子", string municipality = "352012", string address = "山口県山口市亀山町１－２", bool withCardCli = false)
    {
        var (label, signing, _) = await EnrolCardAsync(name, municipality, address);

        var serial = signing.GetProperty("serial").GetString()!;
        var document = Path.Combine(Work, serial + ".pdf");
        await File.WriteAllTextAsync(document, $"%PDF-1.4 e-filing return of {serial}\n");
        var signature = Path.Combine(Work, serial + ".p7s");
        if (withCardCli)
        {
            var pinFile = Path.Combine(Work, serial + ".pin");
            await File.WriteAllTextAsync(pinFile, SigningPin + "\n");
            var card = ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("enrolment-kiosk", "Jpki.Card"), "card", "sign", "--card", label, "--in", document, "--out", signature, "--pin-file", pinFile], new Dictionary<string, string>
            {
                ["JPKI_HOME"] = Ca.Home,
                ["JPKI_PKCS11_MODULE"] = Ca.ModulePath,
            });
            Assert.True(card.ExitCode == 0, card.Stderr);
        }
        else
        {
            await File.WriteAllBytesAsync(signature, Cards.SignDetached(label, SigningPin, new FileInfo(document)));
        }
        return new SignedDocument(
            serial,
            signing.GetProperty("issuerKeyId").GetString()!,
            document,
            signature,
            signing.GetProperty("certificatePem").GetString()!,
            signing.GetProperty("notBefore").GetDateTimeOffset(),
            signing.GetProperty("notAfter").GetDateTimeOffset());
    }

    /// <summary>
    /// A certificate issued by the install's CA over its API for a key made in software and handed
    /// out as PEM — a card key "exported for the test": the card's own keys never leave the token,
    /// and outside signers (xmlsec1) need the key in a file. The resident is new; the CSR is signed
    /// with the key, as a card signs its own.
    /// </summary>
    public async Task<ExportedKey> IssueExportedKeyAsync(string kind, string name = "山田　花子")
    {
        var residentCode = await Ca.AddResidentAsync(dateOfBirth: "1980-05-17", name: name);
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
            "C=JP, CN=exported-card-key", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        var issued = await IssueAsync(residentCode, kind, request.CreateSigningRequestPem());
        return new ExportedKey(
            issued.GetProperty("serial").GetString()!,
            issued.GetProperty("issuerKeyId").GetString()!,
            issued.GetProperty("certificatePem").GetString()!,
            key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A new resident and a card personalised for them with both certificates issued over the CA API and written on it.</summary>
    public async Task<(string Label, JsonElement Signing, JsonElement Authentication)> EnrolCardAsync(string name = "山田　花子", string municipality = "352012", string address = "山口県山口市亀山町１－２")
    {
        var residentCode = await Ca.AddResidentAsync(dateOfBirth: "1980-05-17", municipalityCode: municipality, address: address, name: name);
        var label = Cards.CreateBlank();
        var requests = Cards.Personalise(label, SigningPin, AuthenticationPin);
        var authentication = await IssueAsync(residentCode, "authentication", requests.AuthenticationCsrPem);
        var signing = await IssueAsync(residentCode, "signing", requests.SigningCsrPem!);
        Cards.WriteCertificate(label, CardApplication.Authentication, AuthenticationPin, PemToDer(authentication.GetProperty("certificatePem").GetString()!));
        Cards.WriteCertificate(label, CardApplication.Signing, SigningPin, PemToDer(signing.GetProperty("certificatePem").GetString()!));
        return (label, signing, authentication);
    }

    /// <summary>Runs <c>jpki card</c> from its own build output against the fixture's cards, with <paramref name="input"/> on standard input.</summary>
    public ProcessResult RunCard(string? input, params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("enrolment-kiosk", "Jpki.Card"), "card", .. arguments], new Dictionary<string, string>
        {
            ["JPKI_HOME"] = Ca.Home,
            ["JPKI_PKCS11_MODULE"] = Ca.ModulePath,
        }, input);

    /// <summary>Revokes over the CA API as an officer (cardLost → keyCompromise).</summary>
    public async Task RevokeAsync(string serial)
    {
        var (status, body, _) = await Ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{serial}/revocations", "officer1", new { cause = "cardLost", statement = "verifier test: card reported lost" });
        Assert.True(status == 201, body.ToString());
        Assert.Equal("revoked", body.GetProperty("status").GetString());
    }

    /// <summary>Downloads a published CRL from the publisher over HTTP with the verifier's token into a file.</summary>
    public async Task<string> DownloadCrlAsync(string issuerKeyId, string name, string fileName)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(CrlAddress, $"crl/{issuerKeyId}/{name}"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", VerifierToken);
        using var response = await Ca.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"GET crl/{issuerKeyId}/{name}: {(int)response.StatusCode}");
        var path = Path.Combine(Work, fileName);
        await File.WriteAllBytesAsync(path, await response.Content.ReadAsByteArrayAsync());
        return path;
    }

    public VerifierOptions Options(RevocationSource revocation, DateTimeOffset? at = null) => new()
    {
        Roots = TrustAnchors.FromDirectory(RootsDirectory),
        Revocation = revocation,
        ValidationTime = at,
    };

    public RevocationSource.Ocsp Ocsp => new(OcspUrl, VerifierToken);

    /// <summary>Runs <c>jpki tsa ...</c> from its own build output on this install's token.</summary>
    public ProcessResult RunTsa(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("tsa", "Jpki.Tsa"), "tsa", .. arguments], new Dictionary<string, string>
        {
            ["JPKI_HOME"] = Ca.Home,
            ["SOFTHSM2_CONF"] = Ca.ConfPath,
            ["JPKI_HSM_TOKEN"] = Ca.TokenLabel,
            ["JPKI_PKCS11_MODULE"] = Ca.ModulePath,
            ["JPKI_HSM_PIN"] = "",
            ["JPKI_DB"] = "",
        });

    /// <summary>Runs <c>jpki verify</c> from its own build output; returns (exit code, stdout, stderr).</summary>
    public ProcessResult RunVerify(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("verifier", "Jpki.Verifier.Cli"), "verify", .. arguments], new Dictionary<string, string> { ["JPKI_HOME"] = Ca.Home });

    private async Task<JsonElement> IssueAsync(string residentCode, string kind, string csrPem)
    {
        var (status, body, _) = await Ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = csrPem, windowId = "VERIFY001" }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.True(status == 201, body.ToString());
        return body;
    }

    public static byte[] PemToDer(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim())));
}

[CollectionDefinition(Name)]
public sealed class VerifierGroup : ICollectionFixture<VerifierFixture>
{
    public const string Name = "verifier";
}
