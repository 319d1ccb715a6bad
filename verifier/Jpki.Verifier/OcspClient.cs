using System.Net.Http.Headers;
using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>
/// RFC 6960 status check: one CertID (SHA-1, as RFC 5019 clients send) with a fresh RFC 9654
/// nonce, POSTed with the verifier's bearer token; the answer must be signed by the issuer or by
/// a delegated responder the same issuer key certified for id-kp-OCSPSigning, name the same
/// CertID, be current (thisUpdate/nextUpdate) and echo the nonce if it carries one.
/// </summary>
internal static class OcspClient
{
    private const string OcspSigning = "1.3.6.1.5.5.7.3.9";

    public static async Task<(CheckOutcome, RevocationInfo)> CheckAsync(
        X509Certificate certificate, X509Certificate issuer, RevocationSource.Ocsp source, VerifierOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var certId = new CertificateID(CertificateID.DigestSha1, issuer, certificate.SerialNumber);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var generator = new OcspReqGenerator();
        generator.AddRequest(certId);
        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(nonce));
        generator.SetRequestExtensions(extensions.Generate());
        var request = generator.Generate().GetEncoded();

        byte[] body;
        var ownHttp = options.Http is null;
        var http = options.Http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, source.Url) { Content = new ByteArrayContent(request) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
            if (!string.IsNullOrEmpty(source.Token))
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", source.Token);
            }

            using var response = await http.SendAsync(message, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Unavailable($"the OCSP responder {source.Url} answered HTTP {(int)response.StatusCode}");
            }

            body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return Unavailable($"the OCSP responder {source.Url} could not be reached: {e.Message}");
        }
        finally
        {
            if (ownHttp)
            {
                http.Dispose();
            }
        }

        var (outcome, info) = Evaluate(body, certificate, issuer, certId, nonce, options, now);
        return (outcome, info with { OcspResponse = body });
    }

    /// <summary>A kept answer (evidence): the same checks at <paramref name="now"/> (the time-stamp's time), no nonce to compare.</summary>
    public static (CheckOutcome, RevocationInfo) CheckKept(X509Certificate certificate, X509Certificate issuer, RevocationSource.OcspAnswer kept, VerifierOptions options, DateTimeOffset now)
    {
        var certId = new CertificateID(CertificateID.DigestSha1, issuer, certificate.SerialNumber);
        var body = kept.Der.ToArray();
        var (outcome, info) = Evaluate(body, certificate, issuer, certId, null, options with { RequireOcspNonce = false }, now);
        return (outcome, info with { OcspResponse = body });
    }

    private static (CheckOutcome, RevocationInfo) Evaluate(
        byte[] body, X509Certificate certificate, X509Certificate issuer, CertificateID certId, byte[]? nonce, VerifierOptions options, DateTimeOffset now)
    {
        var (basic, signer, problem) = ReadSigned(body, issuer, now);
        if (basic is null || signer is null)
        {
            return Unavailable(problem!);
        }

        var single = basic.Responses.FirstOrDefault(r => SameCertId(r.GetCertID(), certId));
        if (single is null)
        {
            return Unavailable("the OCSP answer does not name the CertID asked for");
        }

        var (nonceFailure, echoed) = CheckNonce(basic, nonce, options);
        if (nonceFailure is { } failed)
        {
            return failed;
        }

        var thisUpdate = new DateTimeOffset(single.ThisUpdate, TimeSpan.Zero);
        DateTimeOffset? nextUpdate = single.NextUpdate is { } n ? new DateTimeOffset(n, TimeSpan.Zero) : null;
        var info = new RevocationInfo(RevocationState.Good, "ocsp", ThisUpdate: thisUpdate, NextUpdate: nextUpdate, NonceEchoed: echoed);
        if (thisUpdate > now + options.ClockSkew)
        {
            return Unavailable($"the OCSP answer's thisUpdate {SignatureVerifier.Jst(thisUpdate)} is in the future");
        }

        if (nextUpdate is { } next ? next < now - options.ClockSkew : thisUpdate < now - options.ClockSkew - TimeSpan.FromMinutes(15))
        {
            return Unknown($"the OCSP answer is stale (thisUpdate {SignatureVerifier.Jst(thisUpdate)}, nextUpdate {(nextUpdate is { } x ? SignatureVerifier.Jst(x) : "-")})", info with { State = RevocationState.Unknown });
        }

        var freshness = $"thisUpdate {SignatureVerifier.Jst(thisUpdate)}, nextUpdate {(nextUpdate is { } y ? SignatureVerifier.Jst(y) : "-")}, nonce {(echoed ? "echoed" : "not echoed")}, signed by '{signer.SubjectDN}'";
        switch (single.GetCertStatus())
        {
            case null:
                return (CheckOutcome.Pass(CheckKind.Revocation, "OCSP: good (" + freshness + ")"), info);
            case RevokedStatus revoked:
                var at = new DateTimeOffset(revoked.RevocationTime, TimeSpan.Zero);
                var reason = revoked.HasRevocationReason ? ReasonNames.Name(revoked.RevocationReason) : "unspecified";
                return (CheckOutcome.Fail(CheckKind.Revocation, FailureReason.Revoked, $"OCSP: revoked at {SignatureVerifier.Jst(at)}, reason {reason} ({freshness})"),
                    info with { State = RevocationState.Revoked, RevokedAt = at, Reason = reason });
            default:
                return Unknown("OCSP: unknown — the responder does not know this certificate (" + freshness + ")", info with { State = RevocationState.Unknown });
        }
    }

    /// <summary>The basic response and its trusted signer, or nulls and why the answer cannot be used.</summary>
    private static (BasicOcspResp? Basic, X509Certificate? Signer, string? Problem) ReadSigned(byte[] body, X509Certificate issuer, DateTimeOffset now)
    {
        static (BasicOcspResp?, X509Certificate?, string?) Untrusted(string problem) => (null, null, problem);

        BasicOcspResp basic;
        try
        {
            var response = new OcspResp(body);
            if (response.Status != OcspRespStatus.Successful)
            {
                return Untrusted($"the OCSP responder answered status {StatusName(response.Status)} ({response.Status})");
            }

            basic = response.GetResponseObject() as BasicOcspResp
                ?? throw new OcspException("not a basic OCSP response");
        }
        catch (Exception e) when (e is OcspException or IOException or ArgumentException or InvalidCastException)
        {
            return Untrusted("the OCSP answer cannot be read: " + e.Message);
        }

        X509Certificate? signer;
        string signerProblem;
        try
        {
            signer = FindSigner(basic, issuer, now, out signerProblem);
        }
        catch (Exception e) when (e is OcspException or ArgumentException or InvalidCastException or IOException)
        {
            return Untrusted("the OCSP answer's certificates cannot be read: " + e.Message);
        }

        if (signer is null)
        {
            return Untrusted("the OCSP answer's signer is not trusted: " + signerProblem);
        }

        bool signatureValid;
        try
        {
            signatureValid = basic.Verify(CertificateKeys.Of(signer));
        }
        catch (OcspException e)
        {
            return Untrusted("the OCSP answer's signature cannot be checked: " + e.Message);
        }

        if (!signatureValid)
        {
            return Untrusted("the OCSP answer's signature does not verify with the responder certificate");
        }

        return (basic, signer, null);
    }

    /// <summary>Whether the nonce was echoed, or the failure when it was not as the request needs.</summary>
    private static ((CheckOutcome, RevocationInfo)? Failure, bool Echoed) CheckNonce(BasicOcspResp basic, byte[]? nonce, VerifierOptions options)
    {
        var nonceValue = basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce);
        if (nonceValue is not null && nonce is null)
        {
            // A kept answer: its nonce was the original request's, compared when it was received.
            return (null, true);
        }

        if (nonceValue is not null && nonce is not null)
        {
            if (!nonceValue.GetOctets().AsSpan().SequenceEqual(new DerOctetString(nonce).GetEncoded()))
            {
                return (Unavailable("the OCSP answer carries another nonce than the request's (a replayed answer)"), false);
            }

            return (null, true);
        }

        if (options.RequireOcspNonce)
        {
            return (Unknown("the OCSP answer does not echo the request's nonce", null), false);
        }

        return (null, false);
    }

    /// <summary>The issuer itself, or an included delegated responder certificate the issuer key signed for id-kp-OCSPSigning, valid now, matching the responderID.</summary>
    private static X509Certificate? FindSigner(BasicOcspResp basic, X509Certificate issuer, DateTimeOffset now, out string problem)
    {
        problem = "no included certificate matches the responderID";
        var candidates = basic.GetCerts().Append(issuer);
        foreach (var candidate in candidates)
        {
            if (!new RespID(CertificateKeys.Of(candidate)).Equals(basic.ResponderId) && !new RespID(candidate.SubjectDN).Equals(basic.ResponderId))
            {
                continue;
            }

            if (candidate.Equals(issuer))
            {
                return candidate;
            }

            if (!candidate.IssuerDN.Equivalent(issuer.SubjectDN) || !candidate.IsSignatureValid(issuer.GetPublicKey()))
            {
                problem = $"the responder certificate '{candidate.SubjectDN}' is not issued by the signer's issuer key";
                continue;
            }

            if (candidate.GetExtendedKeyUsage()?.Any(k => k.Id == OcspSigning) != true)
            {
                problem = $"the responder certificate '{candidate.SubjectDN}' lacks id-kp-OCSPSigning";
                continue;
            }

            if (now < new DateTimeOffset(candidate.NotBefore, TimeSpan.Zero) || now > new DateTimeOffset(candidate.NotAfter, TimeSpan.Zero))
            {
                problem = $"the responder certificate '{candidate.SubjectDN}' is not valid now";
                continue;
            }

            return candidate;
        }

        return null;
    }

    private static bool SameCertId(CertificateID a, CertificateID b) =>
        a.HashAlgOid == b.HashAlgOid
        && a.GetIssuerNameHash().AsSpan().SequenceEqual(b.GetIssuerNameHash())
        && a.GetIssuerKeyHash().AsSpan().SequenceEqual(b.GetIssuerKeyHash())
        && a.SerialNumber.Equals(b.SerialNumber);

    private static string StatusName(int status) => status switch
    {
        1 => "malformedRequest",
        2 => "internalError",
        3 => "tryLater",
        5 => "sigRequired",
        6 => "unauthorized",
        _ => "unknown",
    };

    private static (CheckOutcome, RevocationInfo) Unavailable(string detail) =>
        (CheckOutcome.Fail(CheckKind.Revocation, FailureReason.RevocationUnavailable, detail), new RevocationInfo(RevocationState.Unavailable, "ocsp"));

    private static (CheckOutcome, RevocationInfo) Unknown(string detail, RevocationInfo? info) =>
        (CheckOutcome.Fail(CheckKind.Revocation, FailureReason.RevocationUnknown, detail), info ?? new RevocationInfo(RevocationState.Unknown, "ocsp"));
}

/// <summary>CRLReason names (RFC 5280 §5.3.1).</summary>
internal static class ReasonNames
{
    public static string Name(int code) => code switch
    {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "reason " + code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
