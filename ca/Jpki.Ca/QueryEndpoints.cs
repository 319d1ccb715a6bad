using System.Text;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Certificates;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.JukiNet;

namespace Jpki.Ca;

/// <summary>The read side of the CA API: issuers, one certificate's status, a resident's four facts, health.</summary>
public static class QueryEndpoints
{
    /// <summary>
    /// <c>GET /api/v1/issuers</c> (docs/design.md §9); public: the roots are what verifiers trust. Every
    /// key generation with its root, published fingerprint, switch time, CRL and ARL URLs, and the
    /// link certificates between generations; <c>certificatePem</c> and the top-level CRL URLs are
    /// the generation that issues now.
    /// </summary>
    public static IResult Issuers(CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        using var db = services.Database.OpenConnection();
        var urls = services.Settings.Urls;
        var crlBase = urls.CrlBase.TrimEnd('/');
        var nowUs = Instant.NowMicros(services.Options.Time);
        var answer = IssuerStore.ListIssuers(db).Select(issuer =>
        {
            var keys = IssuerStore.ListKeys(db, issuer.Id);
            var active = IssuerStore.FindIssuingKey(db, issuer.Id, nowUs)
                ?? keys.Where(k => k.State == "active" && k.CertificateDer is not null).MaxBy(k => k.Generation);
            return new IssuerAnswer(
                issuer.Id,
                issuer.Kind,
                issuer.SubjectDn,
                active?.CertificateDer is { } der ? Jpki.Core.Registration.CertificatePem.Of(der) : null,
                active?.Id,
                $"{urls.OcspBase.TrimEnd('/')}/ocsp",
                active is null ? null : $"{crlBase}/crl/{active.Id}/full.crl",
                active is null ? null : $"{crlBase}/crl/{active.Id}/delta.crl",
                [.. keys.Select(k => new IssuerKeyAnswer(
                    k.Id,
                    k.Generation,
                    k.CertificateDer is { } d ? Jpki.Core.Registration.CertificatePem.Of(d) : null,
                    k.State,
                    k.CertificateDer is { } f && k.PublishedUs is not null ? RootFingerprint.Sha256(f) : null,
                    k.PublishedUs is { } p ? Instant.FromMicros(p) : null,
                    k.IssuesFromUs is { } i ? Instant.FromMicros(i) : null,
                    $"{crlBase}/crl/{k.Id}/full.crl",
                    urls.ArlUrl(k.Id)))],
                [.. IssuerStore.ListLinks(db, issuer.Id).Select(l => new LinkCertificateAnswer(
                    l.Serial, l.Direction, l.SignerKeyId, l.SubjectKeyId, l.FileName, Jpki.Core.Registration.CertificatePem.Of(l.CertificateDer)))]);
        }).ToList();
        return Results.Json(answer, ApiJson.Options);
    }

    /// <summary>
    /// <c>GET /api/v1/issuers/{id}/generations/{generation}/fingerprint</c>: a published
    /// generation's SHA-256 fingerprint, the line of <c>certs/{key}.sha256</c> (the way J-LIS
    /// publishes each root's); 404 until the rollover ceremony publishes it.
    /// </summary>
    public static IResult Fingerprint(string id, int generation, CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        using var db = services.Database.OpenConnection();
        var key = IssuerStore.ListKeys(db, id).FirstOrDefault(k => k.Generation == generation && k.PublishedUs is not null && k.CertificateDer is not null);
        return key is null
            ? ProblemTypes.Problem(404, ProblemTypes.IssuerKeyNotFound, "no such generation", $"issuer '{id}' has no published generation {generation}")
            : Results.Text(RootFingerprint.Line(key.CertificateDer!), "text/plain; charset=utf-8");
    }

    /// <summary>
    /// <c>GET /api/v1/issuers/{id}/certificates/{file}</c>: the issuer's CA certificates under the
    /// names of <c>certs/</c>: a published generation's root (<c>{key}.pem</c>) or a link
    /// certificate (<c>{certified key}-by-{signing key}.pem</c>), PEM: the same bytes as the file.
    /// </summary>
    public static IResult CaCertificate(string id, string file, CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        using var db = services.Database.OpenConnection();
        var der = IssuerStore.ListKeys(db, id).FirstOrDefault(k => $"{k.Id}.pem" == file && k.PublishedUs is not null)?.CertificateDer
            ?? IssuerStore.ListLinks(db, id).FirstOrDefault(l => l.FileName == file)?.CertificateDer;
        return der is null
            ? ProblemTypes.Problem(404, ProblemTypes.CertificateNotFound, "no such certificate", $"issuer '{id}' publishes no certificate '{file}'")
            : Results.Text(new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", der)) + "\n", "application/pem-certificate-chain");
    }

    /// <summary><c>GET /api/v1/certificates/{serial}</c>: any authenticated account.</summary>
    public static async Task<IResult> CertificateStatus(string serial, HttpContext context, CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var account = context.Caller();

        var normalised = serial.ToLowerInvariant();
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        var row = normalised.Length is > 0 and <= 40 && normalised.All(char.IsAsciiHexDigitLower)
            ? EndEntityCertificateStore.FindStatus(db, normalised)
            : null;
        if (row is null)
        {
            return ProblemTypes.Problem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no certificate with this serial");
        }

        return Results.Json(
            new CertificateStatusAnswer(
                row.Serial,
                row.IssuerId,
                row.Kind,
                row.Status,
                Instant.FromMicros(row.NotAfterUs),
                row.RevokedAtUs is { } r ? Instant.FromMicros(r) : null,
                RevocationReasons.WireNameOfStored(row.Reason)),
            ApiJson.Options);
    }

    /// <summary>The answer of <c>GET /api/v1/certificates/{serial}</c>; <c>reason</c> is the RFC 5280 name.</summary>
    public sealed record CertificateStatusAnswer(string Serial, string IssuerId, string Kind, string Status, DateTimeOffset NotAfter, DateTimeOffset? RevokedAt, string? Reason);

    /// <summary>The body of <c>POST /api/v1/residents/lookup</c>.</summary>
    public sealed record ResidentLookupRequest(string? ResidentCode, string? Purpose);

    /// <summary>
    /// The body both resident reads take: a valid 住民票コード and a purpose (1-200 characters,
    /// saying why <paramref name="why"/>); otherwise the 400 problem to answer.
    /// </summary>
    private static async Task<(ResidentCode? Code, string Purpose, IResult? Problem)> ReadResidentQueryAsync(HttpContext context, string why)
    {
        var (body, _, problem) = await ApiJson.ReadAsync<ResidentLookupRequest>(context.Request);
        if (body is null)
        {
            return (null, "", problem);
        }

        if (!ResidentCode.TryParse(body.ResidentCode, out var code, out _))
        {
            return (null, "", ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", "residentCode must be 11 digits with a valid check digit"));
        }

        if (string.IsNullOrWhiteSpace(body.Purpose) || body.Purpose.Length > 200)
        {
            return (null, "", ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", $"purpose (1-200 characters) says why the {why}"));
        }

        return (code, body.Purpose.Trim(), null);
    }

    /// <summary>
    /// <c>POST /api/v1/residents/lookup</c> (operators): the four facts, municipality, status and
    /// sequence. Each read is logged (account, purpose, resident HMAC) before the facts are sent.
    /// </summary>
    public static async Task<IResult> LookupResident(HttpContext context, CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
        var account = context.Caller();

        var (code, purpose, problem) = await ReadResidentQueryAsync(context, "facts are read");
        if (code is null)
        {
            return problem!;
        }

        ResidentLookupResult lookup;
        try
        {
            lookup = await services.JukiNet.LookupAsync(code, context.RequestAborted);
        }
        catch (JukiNetUnavailableException)
        {
            return ProblemTypes.Problem(503, ProblemTypes.JukiNetUnavailable, "Juki-Net unavailable", "the resident registry did not answer");
        }
        catch (JukiNetProtocolException)
        {
            return ProblemTypes.Problem(502, ProblemTypes.JukiNetProtocol, "Juki-Net answered malformed", "the resident registry's answer could not be read");
        }

        if (lookup is not ResidentFound { Record: var record })
        {
            return ProblemTypes.Problem(422, ProblemTypes.UnknownResident, "unknown resident", "Juki-Net holds no record for this resident code");
        }

        if (!account.IsBoundTo(record.MunicipalityCode.Value))
        {
            return ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", $"account '{account.Id}' may not read residents of municipality {record.MunicipalityCode.Value}");
        }

        // The issuance's own rules, answered now: a window refuses before anything is done on a card.
        var eligibility = LookupEligibility.Of(account, record, Jpki.Core.Jst.DateOf(services.Options.Time.GetUtcNow()), services.Settings.Prefectures);
        var residentKey = services.ResidentHmac.Compute(Encoding.ASCII.GetBytes(code.Digits));
        using (var tx = await services.Database.BeginWriteAsync(context.RequestAborted))
        {
            ResidentReadLog.Append(tx, account.Id, purpose, residentKey, CaServices.ResidentHmacKeyId);
            await tx.CommitAsync(context.RequestAborted);
        }

        return Results.Json(LookupAnswer(record, eligibility), ApiJson.Options);
    }

    private static ResidentLookupAnswer LookupAnswer(ResidentRecord record, LookupEligibility eligibility) =>
        new(
            record.Name,
            record.NameSubstitutes,
            record.DateOfBirth.ToJpki(),
            (int)record.Sex,
            record.Address,
            record.AddressSubstitutes,
            record.MunicipalityCode.Value,
            Municipalities.RomanisedName(record.MunicipalityCode.Value),
            Municipalities.JapaneseName(record.MunicipalityCode.Value),
            System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(record.Status.ToString()),
            record.Sequence,
            new ResidentEligibility(EligibilityAnswer(eligibility.Authentication), EligibilityAnswer(eligibility.Signing)));

    /// <summary>
    /// One kind's eligibility in a lookup's answer: <c>{ eligible: true }</c>, or the problem type
    /// and detail the issuance would refuse with (the same <c>type</c> as its problem+json).
    /// </summary>
    private static KindEligibility EligibilityAnswer(IssuanceRefused? refused)
    {
        if (refused is null)
        {
            return new KindEligibility(true);
        }

        var (_, type, title) = CertificateIssuance.ProblemOf(refused);
        return new KindEligibility(false, type, title, refused.Detail);
    }

    /// <summary>
    /// <c>POST /api/v1/residents/certificates</c> <c>{ residentCode, purpose }</c> (operators): the
    /// resident's unexpired certificates in the municipalities the operator is bound to, so a window
    /// can revoke a lost card's certificates without the card or the receipt. The code comes in the
    /// body (never a URL), is hashed at once with the resident HMAC, and the read is logged in
    /// <c>resident_reads</c> (disclosed <c>certificates</c>) with its purpose before the answer.
    /// A resident whose certificates all belong to unbound municipalities is 403; none at all is an
    /// empty list (and still logged: the question was asked).
    /// </summary>
    public static async Task<IResult> ResidentCertificates(HttpContext context, CaServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
        var account = context.Caller();

        var (code, purpose, problem) = await ReadResidentQueryAsync(context, "certificates are listed");
        if (code is null)
        {
            return problem!;
        }

        byte[] residentKey;
        try
        {
            residentKey = services.ResidentKey(code);
        }
        catch (Jpki.Hsm.HsmException)
        {
            return ProblemTypes.Problem(503, ProblemTypes.HsmUnavailable, "HSM unavailable", "the HSM did not answer; nothing was read");
        }

        List<ResidentCertificateRow> bound;
        using (var tx = await services.Database.BeginWriteAsync(context.RequestAborted))
        {
            var all = EndEntityCertificateStore.ResidentCertificates(tx.Connection, residentKey, CaServices.ResidentHmacKeyId, Instant.NowMicros(tx.Time), tx.Transaction);
            bound = all.Where(c => c.MunicipalityCode is { } m && account.IsBoundTo(m)).ToList();
            if (all.Count > 0 && bound.Count == 0)
            {
                return ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", $"the resident's certificates belong to municipalities account '{account.Id}' is not bound to");
            }

            ResidentReadLog.Append(tx, account.Id, purpose, residentKey, CaServices.ResidentHmacKeyId, ResidentReadLog.Certificates);
            await tx.CommitAsync(context.RequestAborted);
        }

        return Results.Json(
            new ResidentCertificatesAnswer([.. bound.Select(c => new ResidentCertificateAnswer(
                c.Serial,
                c.IssuerKeyId,
                c.Kind,
                c.MunicipalityCode,
                c.Status,
                c.DeliveryState,
                Instant.FromMicros(c.NotBeforeUs),
                Instant.FromMicros(c.NotAfterUs),
                c.RevokedAtUs is { } r ? Instant.FromMicros(r) : null,
                RevocationReasons.WireNameOfStored(c.Reason)))]),
            ApiJson.Options);
    }

    /// <summary><c>GET /healthz</c>: the issuance HSM pool, the store and Juki-Net; 200 only when all answer.</summary>
    public static async Task<IResult> Health(CaServices services, FeedHealth feed, ExpiryAlarmService expiry, StoreSpaceWatch storeSpace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(expiry);
        var hsm = services.IssuancePool.Probe();
        var hsmModule = services.HsmWatch.Health;
        string store;
        string? installMode = null;
        string? storeNode = null;
        try
        {
            await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
            await using var command = db.CreateCommand();
            command.CommandText = "SELECT seq FROM chain_head WHERE id = 1";
            await command.ExecuteScalarAsync(cancellationToken);
            installMode = InstallMode.Read(db);
            storeNode = await StoreNode.OfAsync(db, cancellationToken);
            store = "ok";
        }
        catch (System.Data.Common.DbException)
        {
            store = "unavailable";
        }

        var jukiNet = await ProbeJukiNetAsync(services, cancellationToken);
        ArgumentNullException.ThrowIfNull(feed);
        var feedNow = feed.Current;
        var witness = services.AuditRuntime.Witness?.Status;
        var clock = services.Clock.Current;
        // A clock warning (no source on a demonstration install) is degraded but still 200: the CA issues.
        ArgumentNullException.ThrowIfNull(storeSpace);
        var space = storeSpace.Current;
        var healthy = !space.Full && hsm.Status == Jpki.Hsm.HsmHealthStatus.Healthy && services.HsmWatch.Ok && store == "ok" && jukiNet == "ok" && (feedNow.Healthy || feedNow.State == "starting") && (witness?.Healthy ?? true) && clock.MaySign;
        return Results.Json(
            new CaHealthAnswer(
                // An expiry alarm is degraded but 200, as a clock warning: the CA works until the certificate ends.
                healthy && !clock.Warning && expiry.Current.Count == 0 ? "ok" : "degraded",
                clock.Health(),
                expiry.Health(),
                // A demo keeps the built-in accounts' credentials in files: say so where operators look.
                new InstallHealth(
                    installMode ?? InstallMode.Demo,
                    installMode == InstallMode.Production ? null : "demonstration install: the built-in accounts' passwords and tokens are files under secrets/; set up a production install with ./jpki hsm init --production"),
                // module: the PKCS#11 module's own state (lost, pin-refused ...) and its re-initialisations (docs/hsm-faults.md).
                new HsmPoolHealth(hsm.Status.ToString().ToLowerInvariant(), hsm.Since, hsm.LastError, hsmModule),
                store,
                // full: writes were refused for lack of disk space and none has succeeded since (decision 0820).
                new StorageHealth(space.Full ? "full" : "ok", space.Since, space.Refused, space.LastError),
                // Which database node this instance's connections reach (./jpki cluster status).
                storeNode,
                jukiNet,
                new FeedHealthAnswer(feedNow.State, feedNow.Cursor, feedNow.LastPollOk, feedNow.LastError, feedNow.GapAlarm, feedNow.SilenceAlarm),
                WitnessHealth.Of(witness)),
            ApiJson.Options,
            statusCode: healthy ? 200 : 503);
    }

    /// <summary><c>ok</c> when Juki-Net's own <c>/healthz</c> answers 2xx within the probe's timeout, else <c>unavailable</c>.</summary>
    private static async Task<string> ProbeJukiNetAsync(CaServices services, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await services.HealthProbeHttp.GetAsync(new Uri(services.Options.JukiNetBaseAddress, "healthz"), cancellationToken);
            return response.IsSuccessStatusCode ? "ok" : "unavailable";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "unavailable";
        }
    }
}
