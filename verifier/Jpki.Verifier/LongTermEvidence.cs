using System.Collections.Immutable;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Tsp;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>What was verified, kept so that it can be checked again years later (docs/decisions/0350).</summary>
public sealed record EvidenceRecord
{
    public const string CurrentFormat = "jpki-evidence/1";

    public string Format { get; init; } = CurrentFormat;

    /// <summary><c>cms</c> (a detached CMS signature over <see cref="Document"/>) or <c>xml</c> (an XML-DSig document).</summary>
    public required string Kind { get; init; }

    /// <summary>The signed document (CMS) or the signed XML document itself.</summary>
    public required byte[] Document { get; init; }

    /// <summary>The DER CMS signature; null for XML (the signature is in the document).</summary>
    public byte[]? Signature { get; init; }

    /// <summary>XML: the element the application processes, <c>{namespace}name</c>; null: the document element.</summary>
    public string? Element { get; init; }

    /// <summary>The signer certificate and its root, DER, as found at verification time.</summary>
    public required byte[][] Chain { get; init; }

    /// <summary><c>ocsp</c>, <c>crl</c> or <c>none</c>.</summary>
    public required string RevocationSource { get; init; }

    /// <summary>The DER OCSP answer used.</summary>
    public byte[]? OcspResponse { get; init; }

    /// <summary>The CRLs given (complete and delta), as given.</summary>
    public byte[][]? Crls { get; init; }

    /// <summary>The verifier's clock when it checked (the time-stamp proves the time; this is informative).</summary>
    public required DateTimeOffset VerifiedAt { get; init; }

    public required bool Valid { get; init; }

    public string? Failure { get; init; }
}

/// <summary>Where the time-stamp token of an evidence file is checked against.</summary>
public sealed record EvidenceOptions
{
    /// <summary>The JPKI roots (every key generation) the signer certificate must chain to.</summary>
    public required ImmutableArray<X509Certificate> Roots { get; init; }

    /// <summary>The TSA certificates trusted to date evidence (the deployment's TSA).</summary>
    public required ImmutableArray<X509Certificate> TimeStampAuthorities { get; init; }
}

/// <summary>An evidence file checked again: when the time-stamp says it was made, and the verification at that time.</summary>
public sealed record EvidenceVerification(VerificationResult Verification, EvidenceRecord? Record, DateTimeOffset? TimeStampTime, string? TimeStampAuthority)
{
    public bool IsValid => Verification.IsValid;
}

/// <summary>
/// Long-term evidence of a verification: the document, the signature, the chain and the OCSP
/// answer or CRLs used, as one JSON document (<see cref="EvidenceRecord"/>), sealed with an RFC 3161
/// time-stamp token over the SHA-256 of its exact bytes. The file is
/// <c>{ "format", "evidence": base64(record JSON), "timeStampToken": base64(DER) }</c>, so the
/// bytes stamped are the bytes kept and nothing is re-serialised before the digest is compared.
/// Checking it again uses nothing but the file, the trusted roots and the TSA certificate, at the
/// time the token proves, never a time the caller gives.
/// </summary>
public static class LongTermEvidence
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    private static readonly JsonSerializerOptions IndentedJson = new(Json) { WriteIndented = true };

    /// <summary>The record of a CMS or XML verification just made with <paramref name="options"/>.</summary>
    public static EvidenceRecord Capture(string kind, byte[] document, byte[]? signature, XmlQualifiedName? element, VerificationResult result, VerifierOptions options)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        if (kind is not ("cms" or "xml"))
        {
            throw new ArgumentException($"kind '{kind}' is not cms or xml", nameof(kind));
        }

        var (source, ocsp, crls) = options.Revocation switch
        {
            RevocationSource.Ocsp or RevocationSource.OcspAnswer => ("ocsp", result.Revocation.OcspResponse?.ToArray(), (byte[][]?)null),
            RevocationSource.Crls c => ("crl", null, c.Encoded.ToArray()),
            _ => ("none", null, null),
        };
        return new EvidenceRecord
        {
            Kind = kind,
            Document = document,
            Signature = signature,
            Element = element is null || element.IsEmpty ? null : $"{{{element.Namespace}}}{element.Name}",
            Chain = [.. result.Chain.Select(c => c.Der.ToArray())],
            RevocationSource = source,
            OcspResponse = ocsp,
            Crls = crls,
            VerifiedAt = options.Time.GetUtcNow(),
            Valid = result.IsValid,
            Failure = result.FirstFailure?.Reason.ToString(),
        };
    }

    /// <summary>Asks the TSA at <paramref name="tsa"/> to stamp <paramref name="record"/> and returns the evidence file's bytes.</summary>
    /// <exception cref="TimeStampException">The TSA could not be reached, refused, or answered a token that does not cover the request.</exception>
    public static async Task<byte[]> SealAsync(EvidenceRecord record, Uri tsa, HttpClient? http = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(tsa);
        var evidence = JsonSerializer.SerializeToUtf8Bytes(record, Json);
        var token = await TimeStampClient.StampAsync(tsa, SHA256.HashData(evidence), http, cancellationToken).ConfigureAwait(false);
        return JsonSerializer.SerializeToUtf8Bytes(new SealedFile(EvidenceRecord.CurrentFormat, evidence, token), IndentedJson);
    }

    /// <summary>
    /// Checks an evidence file again: the time-stamp (a trusted TSA's, valid at its genTime, over
    /// the evidence's SHA-256), then the signature, chain, profile and the kept status, all at genTime.
    /// </summary>
    public static async Task<EvidenceVerification> VerifyAsync(byte[] file, EvidenceOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        SealedFile? sealedFile;
        EvidenceRecord? record;
        try
        {
            sealedFile = JsonSerializer.Deserialize<SealedFile>(file, Json);
            if (sealedFile is not { Format: EvidenceRecord.CurrentFormat, Evidence.Length: > 0, TimeStampToken.Length: > 0 })
            {
                return Failed(FailureReason.EvidenceMalformed, $"not a {EvidenceRecord.CurrentFormat} evidence file (format, evidence and timeStampToken are required)", null);
            }

            record = JsonSerializer.Deserialize<EvidenceRecord>(sealedFile.Evidence, Json);
            if (record is null || record.Format != EvidenceRecord.CurrentFormat || record.Kind is not ("cms" or "xml") || record.Document is null || (record.Kind == "cms" && record.Signature is null))
            {
                return Failed(FailureReason.EvidenceMalformed, "the evidence record lacks its kind, document or signature", null);
            }
        }
        catch (JsonException e)
        {
            return Failed(FailureReason.EvidenceMalformed, "the evidence file is not JSON of this format: " + e.Message, null);
        }

        var (stampOutcome, genTime, authority) = CheckTimeStamp(sealedFile.TimeStampToken, sealedFile.Evidence, options.TimeStampAuthorities);
        if (genTime is not { } at)
        {
            return Failed(FailureReason.TimeStampInvalid, stampOutcome.Detail, record);
        }

        var verifier = new VerifierOptions
        {
            Roots = options.Roots,
            Revocation = record.RevocationSource switch
            {
                "ocsp" when record.OcspResponse is { Length: > 0 } der => new RevocationSource.OcspAnswer([.. der]),
                "crl" when record.Crls is { Length: > 0 } crls => new RevocationSource.Crls([.. crls]),
                _ => new RevocationSource.None(),
            },
            ValidationTime = at,
            Time = new FixedTime(at),
        };
        VerificationResult result;
        if (record.Kind == "cms")
        {
            result = await SignatureVerifier.VerifyAsync(record.Document, record.Signature!, verifier, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var xml = await XmlSignatureVerifier.VerifyAsync(record.Document, verifier, new XmlSignatureOptions { SignedElement = ParseElement(record.Element) }, cancellationToken).ConfigureAwait(false);
            result = xml.Verification;
        }

        return new EvidenceVerification(result with { Checks = [stampOutcome, .. result.Checks] }, record, at, authority);
    }

    private static XmlQualifiedName? ParseElement(string? text) =>
        text is { Length: > 0 } && text.StartsWith('{') && text.IndexOf('}', StringComparison.Ordinal) is > 0 and var close
            ? new XmlQualifiedName(text[(close + 1)..], text[1..close])
            : null;

    private static (CheckOutcome Outcome, DateTimeOffset? GenTime, string? Authority) CheckTimeStamp(byte[] tokenDer, byte[] evidence, ImmutableArray<X509Certificate> authorities)
    {
        static (CheckOutcome, DateTimeOffset?, string?) Fail(string detail) => (CheckOutcome.Fail(CheckKind.TimeStamp, FailureReason.TimeStampInvalid, detail), null, null);
        TimeStampToken token;
        try
        {
            token = new TimeStampToken(new CmsSignedData(tokenDer));
        }
        catch (Exception e) when (e is CmsException or TspException or IOException or ArgumentException or InvalidCastException)
        {
            return Fail("the time-stamp token is not a DER RFC 3161 token: " + e.Message);
        }

        var info = token.TimeStampInfo;
        if (info.MessageImprintAlgOid != NistObjectIdentifiers.IdSha256.Id || !CryptographicOperations.FixedTimeEquals(info.GetMessageImprintDigest(), SHA256.HashData(evidence)))
        {
            return Fail("the time-stamp does not cover this evidence (its SHA-256 imprint differs): the evidence was altered");
        }

        if (authorities.Length == 0)
        {
            return Fail("no TSA certificate is trusted (give the deployment's TSA certificate)");
        }

        foreach (var authority in authorities.Where(a => token.SignerID.Match(a)))
        {
            try
            {
                // Checks the signature, the ESS signing-certificate attribute, id-kp-timeStamping and
                // that the certificate was valid at genTime.
                token.Validate(authority);
            }
            catch (Exception e) when (e is TspException or TspValidationException or ArgumentException)
            {
                return Fail($"the time-stamp does not verify with the TSA certificate '{authority.SubjectDN}': {e.Message}");
            }

            var genTime = new DateTimeOffset(info.GenTime, TimeSpan.Zero);
            return (CheckOutcome.Pass(CheckKind.TimeStamp, $"RFC 3161 token of '{authority.SubjectDN}', serial {info.SerialNumber.ToString(16).ToUpperInvariant()}, genTime {SignatureVerifier.Jst(genTime)}: the checks below are at that time"), genTime, authority.SubjectDN.ToString());
        }

        return Fail($"the time-stamp is signed by '{token.SignerID.Issuer}' serial {token.SignerID.SerialNumber?.ToString(16).ToUpperInvariant()}, not a trusted TSA");
    }

    private static EvidenceVerification Failed(FailureReason reason, string detail, EvidenceRecord? record)
    {
        var checks = ImmutableArray.CreateBuilder<CheckOutcome>();
        checks.Add(CheckOutcome.Fail(CheckKind.TimeStamp, reason, detail));
        checks.Add(CheckOutcome.Skip(CheckKind.Signature, "the evidence cannot be dated"));
        var result = SignatureVerifier.WithoutCertificate(checks, DateTimeOffset.MinValue, null, "the evidence cannot be dated");
        return new EvidenceVerification(result, record, null, null);
    }

    private sealed record SealedFile(string Format, byte[] Evidence, byte[] TimeStampToken);

    /// <summary>The clock of a re-check: always the time-stamp's time (OCSP and CRL freshness, validity).</summary>
    private sealed class FixedTime(DateTimeOffset at) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => at;
    }
}

/// <summary>The TSA could not give a usable time-stamp.</summary>
public sealed class TimeStampException(string message) : Exception(message);

/// <summary>An RFC 3161 client: one SHA-256 imprint, a random nonce, the TSA's certificate asked for.</summary>
public static class TimeStampClient
{
    /// <summary>The DER TimeStampToken for <paramref name="sha256"/>, checked to answer this request (imprint, nonce, granted status, signature by its own included certificate).</summary>
    public static async Task<byte[]> StampAsync(Uri tsa, byte[] sha256, HttpClient? http = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tsa);
        ArgumentNullException.ThrowIfNull(sha256);
        var generator = new TimeStampRequestGenerator();
        generator.SetCertReq(true);
        var request = generator.Generate(NistObjectIdentifiers.IdSha256, sha256, new BigInteger(1, RandomNumberGenerator.GetBytes(16)));
        var ownHttp = http is null;
        http ??= new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        byte[] body;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, tsa) { Content = new ByteArrayContent(request.GetEncoded()) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/timestamp-query");
            using var response = await http.SendAsync(message, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new TimeStampException($"the TSA {tsa} answered HTTP {(int)response.StatusCode}");
            }

            body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            throw new TimeStampException($"the TSA {tsa} could not be reached: {e.Message}");
        }
        finally
        {
            if (ownHttp)
            {
                http.Dispose();
            }
        }

        try
        {
            var answer = new TimeStampResponse(body);
            answer.Validate(request);
            if (answer.TimeStampToken is not { } token)
            {
                throw new TimeStampException($"the TSA {tsa} refused: status {answer.Status}, {answer.GetStatusString() ?? "no reason"}");
            }

            var certificate = token.GetCertificates().EnumerateMatches(token.SignerID).FirstOrDefault()
                ?? throw new TimeStampException($"the TSA {tsa} did not include its certificate");
            token.Validate(certificate);
            return token.GetEncoded();
        }
        catch (Exception e) when (e is TspException or TspValidationException or IOException or ArgumentException or InvalidCastException)
        {
            throw new TimeStampException($"the TSA {tsa} answered an unusable time-stamp: {e.Message}");
        }
    }
}
