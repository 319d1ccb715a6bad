using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Requests;
using Jpki.CrlPublisher;
using Jpki.JukiNet;
using Jpki.Ocsp;
using Jpki.Verifier;

namespace Jpki.Fuzz;

/// <summary>
/// One parser under fuzzing. <see cref="Run"/> feeds it one input and returns normally when the
/// parser either read the input or refused it with its own typed rejection; any other exception
/// escapes and is a crash (to AFL++ through SharpFuzz, to the replay test as a failure).
/// </summary>
/// <param name="Name">The name <c>./jpki fuzz NAME</c> takes; also the corpus folder's name.</param>
/// <param name="Parser">What is driven, for the listing and docs/fuzzing.md.</param>
/// <param name="Rejection">The exception type (or outcome) the parser refuses input with.</param>
public sealed record FuzzTarget(string Name, string Parser, string Rejection, Action<byte[]> Run);

/// <summary>A harness's own check failed: the parser accepted something it then contradicted.</summary>
public sealed class HarnessCheckException(string message) : Exception(message);

/// <summary>The harnesses, one per parser that reads bytes from outside (issue 20).</summary>
public static class FuzzTargets
{
    public static ImmutableArray<FuzzTarget> All { get; } =
    [
        new("ocsp-request", "Jpki.Ocsp.OcspRequestReader.Read (RFC 6960 OCSPRequest, one CertID, nonce)", nameof(MalformedOcspRequestException), OcspRequest),
        new("pkcs10", "Jpki.Core.Requests.CertificationRequestReader.Read (PEM/base64/DER PKCS#10, proof of possession, GoodKey)", nameof(CsrRejectedException), Pkcs10),
        new("verifier-cms", "Jpki.Verifier.SignatureVerifier.VerifyAsync (CMS SignedData, path validation, CRL status)", "a failed VerificationResult", VerifierCms),
        new("crl", "Jpki.CrlPublisher.CrlFileReader (streamed CRL: preamble, entries, extensions, signature)", nameof(FormatException), Crl),
        new("jukinet-changes", "Jpki.JukiNet.JukiNetClient.ReadChangePage (change feed answer, each event checked)", nameof(JukiNetProtocolException) + " / MalformedChange", JukiNetChanges),
        new("client-certificate", "Jpki.Core.Accounts.ClientCertificateStore.Parse (PEM or base64 DER) and the fields registration stores", nameof(ClientCertificateException), ClientCertificate),
        new("audit-json", "Jpki.Core.Audit: checkpoint file line, witness document (AuditCheckpointDocument.Parse), canonical JSON round trip", nameof(AuditWitnessFileException) + " / null line", AuditJson),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    private static void OcspRequest(byte[] input)
    {
        try
        {
            var request = OcspRequestReader.Read(input);
            if (request.Nonce is { Length: 0 or > OcspRequestReader.MaxNonceLength + 3 })
            {
                throw new HarnessCheckException($"a nonce of {request.Nonce.Length} octets was accepted");
            }
        }
        catch (MalformedOcspRequestException)
        {
        }
    }

    private static void Pkcs10(byte[] input)
    {
        try
        {
            var request = CertificationRequestReader.Read(input);
            // What issuance does next with an accepted request: its key must import.
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(request.SubjectPublicKeyInfo, out _);
        }
        catch (CsrRejectedException)
        {
        }
    }

    /// <summary>
    /// Everything but the signature is fixed, so that one input always gives one outcome: the
    /// root and the CRL the seeds were made with, the signed content, the clock.
    /// </summary>
    public static VerifierOptions VerifierOptions() => new()
    {
        Roots = [Fixtures.VerifierRoot],
        Revocation = new RevocationSource.Crls([Fixtures.VerifierCrl]),
        ValidationTime = Fixtures.Now,
        Time = new FixedTime(Fixtures.Now),
    };

    private static void VerifierCms(byte[] input)
    {
        var result = SignatureVerifier.VerifyAsync(Fixtures.SignedContent, input, VerifierOptions()).GetAwaiter().GetResult();
        _ = result.ToString();
    }

    private static void Crl(byte[] input)
    {
        try
        {
            using var reader = new CrlFileReader(new MemoryStream(input, writable: false));
            reader.ReadPreamble();
            foreach (var serial in reader.ReadEntrySerials())
            {
                if (serial.Length == 0)
                {
                    throw new HarnessCheckException("an empty serial");
                }
            }

            reader.ReadTrailer(Fixtures.CrlIssuerSubjectPublicKeyInfo);
        }
        catch (FormatException)
        {
        }
    }

    private static void JukiNetChanges(byte[] input)
    {
        try
        {
            var page = JukiNetClient.ReadChangePage(input, "fuzz");
            foreach (var change in page.Changes)
            {
                // What the feed applier relies on for an event the client let through.
                if (change.Check() is { } error)
                {
                    throw new HarnessCheckException("an accepted event fails its own check: " + error);
                }

                _ = change.ToString();
            }

            foreach (var malformed in page.Malformed)
            {
                _ = malformed.ToString();
            }
        }
        catch (JukiNetProtocolException)
        {
        }
    }

    private static void ClientCertificate(byte[] input)
    {
        try
        {
            using var certificate = ClientCertificateStore.Parse(Encoding.UTF8.GetString(input));
            // The fields ClientCertificateStore.Register stores.
            _ = ClientCertificateStore.Fingerprint(certificate.RawData);
            _ = certificate.Subject;
            _ = certificate.NotBefore.ToUniversalTime();
            _ = certificate.NotAfter.ToUniversalTime();
        }
        catch (ClientCertificateException)
        {
        }
    }

    private static void AuditJson(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        if (AuditCheckpoint.ParseFileLine(text) is { } checkpoint)
        {
            // The file line is canonical JSON: what was read writes back to a line that reads the same.
            var again = AuditCheckpoint.ParseFileLine(checkpoint.ToFileLine());
            if (again is null || !again.SameAs(checkpoint))
            {
                throw new HarnessCheckException("a checkpoint line does not survive ToFileLine and ParseFileLine");
            }
        }

        try
        {
            var document = AuditCheckpointDocument.Parse(text, "fuzz");
            var bytes = document.ToUtf8Bytes();
            var reread = AuditCheckpointDocument.Parse(Encoding.UTF8.GetString(bytes), "fuzz");
            if (!reread.ToUtf8Bytes().AsSpan().SequenceEqual(bytes))
            {
                throw new HarnessCheckException("a witness document is not canonical after one round trip");
            }
        }
        catch (AuditWitnessFileException)
        {
        }

        // Canonical JSON of whatever JSON the input is: the form audit hashes cover must be a fixed point.
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return;
        }

        string canonical;
        try
        {
            canonical = CanonicalJson.Serialize(node);
        }
        catch (ArgumentException)
        {
            // Refused by design: fractions, integers past 64 bits, lone surrogates.
            return;
        }

        if (CanonicalJson.Serialize(JsonNode.Parse(canonical)) != canonical)
        {
            throw new HarnessCheckException("canonical JSON is not a fixed point");
        }
    }

    /// <summary>A clock that stands still (the verifier's "now" for CRL freshness).</summary>
    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
