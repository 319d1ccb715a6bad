using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Requests;
using Jpki.Core.Revocation;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Hsm;
using Jpki.JukiNet;
using Microsoft.Extensions.Logging;
using CoreResidentFacts = Jpki.Core.Issuance.ResidentFacts;

namespace Jpki.Ca;

/// <summary>The body of <c>POST /api/v1/certificates</c>.</summary>
public sealed record IssueCertificateRequest
{
    public string? ResidentCode { get; init; }

    public string? Kind { get; init; }

    public string? Csr { get; init; }

    public string? WindowId { get; init; }

    public long? JukiSequence { get; init; }

    public string? CardExpiry { get; init; }

    public IssuanceOverride? Override { get; init; }

    /// <summary>
    /// The serial (hex) of the holder's certificate of the same kind this issuance renews: it must
    /// be good and unexpired; it is revoked as superseded in the transaction that stores the new
    /// one, and inside its last three months the new one counts the 6th birthday.
    /// </summary>
    public string? Renews { get; init; }
}

/// <summary>An officer's override (today: a signing certificate for a resident under 15), with its reason.</summary>
public sealed record IssuanceOverride
{
    public string? Reason { get; init; }
}

/// <summary>The 201 answer.</summary>
public sealed record IssuedCertificateAnswer(string Serial, string IssuerId, string IssuerKeyId, string CertificatePem, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string? Renewed = null);

/// <summary>
/// Issues one end-entity certificate: checks the request, asks Juki-Net for the resident's
/// current record, applies the eligibility rules, builds, lints and signs the certificate, and
/// stores it with its status change and audit record in one write transaction. Every refusal is
/// a problem answer and changes nothing.
/// </summary>
public sealed partial class CertificateIssuance(CaServices services, IssuanceMetrics metrics, ILogger<CertificateIssuance> logger)
{
    private readonly IntendedIssuance intents = new(services);
    private const int MinimumSigningAge = 15;

    public async Task<IResult> IssueAsync(HttpContext context, Account account)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await IssueOrRefuseAsync(context, account);
        metrics.Record(result, started);
        return result;
    }

    private async Task<IResult> IssueOrRefuseAsync(HttpContext context, Account account)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(account);
        var (body, raw, problem) = await ApiJson.ReadAsync<IssueCertificateRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        var idempotencyKey = context.Request.Headers["Idempotency-Key"].ToString();
        var requestSha256 = Convert.ToHexStringLower(SHA256.HashData(raw));
        if (idempotencyKey.Length > 0)
        {
            if (idempotencyKey.Length > 200)
            {
                return ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid Idempotency-Key", "at most 200 characters");
            }

            await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
            if (IdempotencyStore.Find(db, account.Id, idempotencyKey) is { } stored)
            {
                return Replay(stored, requestSha256);
            }
        }

        var (checkedInput, inputProblem) = Check(body);
        if (checkedInput is null)
        {
            return inputProblem!;
        }

        if (SigningClock.Refusal(services.Clock, context) is { } clockRefusal)
        {
            return clockRefusal;
        }

        // The Juki-Net round trip runs while the request's key is checked (weak-key arithmetic,
        // store reads): the two are independent, and the window waits for their sum otherwise.
        // An answer refused before the lookup is needed cancels it; nothing is read from it then.
        using var lookupCancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var lookupTask = services.JukiNet.LookupAsync(checkedInput.ResidentCode, lookupCancel.Token);
        try
        {
            return await IssueCheckedAsync(context, account, body, checkedInput, idempotencyKey, requestSha256, lookupTask);
        }
        finally
        {
            if (!lookupTask.IsCompleted)
            {
                await lookupCancel.CancelAsync();
            }

            // A lookup nobody awaited (an early refusal) must not surface as an unobserved fault.
            _ = lookupTask.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task<IResult> IssueCheckedAsync(
        HttpContext context,
        Account account,
        IssueCertificateRequest body,
        CheckedInput checkedInput,
        string idempotencyKey,
        string requestSha256,
        Task<ResidentLookupResult> lookupTask)
    {
        CheckedRequest csr;
        try
        {
            csr = CertificationRequestReader.Read(Encoding.ASCII.GetBytes(body.Csr!));
        }
        catch (CsrRejectedException e)
        {
            return ProblemTypes.Problem(400, ProblemTypes.For(e.Problem), "certification request rejected", e.Detail);
        }

        var spkiSha256 = Convert.ToHexStringLower(SHA256.HashData(csr.SubjectPublicKeyInfo));
        await using (var db = await services.Database.OpenConnectionAsync(context.RequestAborted))
        {
            if (JukiNetFeedStore.IsStopped(db, JukiNetFeedStore.IssuanceSwitch))
            {
                return IssuanceStopped();
            }

            if (RateLimited(db, account, context) is { } limited)
            {
                return limited;
            }

            if (EndEntityCertificateStore.PublicKeyCertified(db, spkiSha256))
            {
                // A retry racing its first attempt may find the key certified by that attempt.
                return idempotencyKey.Length > 0 && IdempotencyStore.Find(db, account.Id, idempotencyKey) is { } stored
                    ? Replay(stored, requestSha256)
                    : DuplicateKey();
            }
        }

        ResidentLookupResult lookup;
        try
        {
            lookup = await lookupTask;
        }
        catch (JukiNetUnavailableException)
        {
            return ProblemTypes.Problem(503, ProblemTypes.JukiNetUnavailable, "Juki-Net unavailable", "the resident registry did not answer; nothing was issued, try again later");
        }
        catch (JukiNetProtocolException)
        {
            return ProblemTypes.Problem(502, ProblemTypes.JukiNetProtocol, "Juki-Net answered malformed", "the resident registry's answer could not be read; nothing was issued");
        }

        if (lookup is not ResidentFound { Record: var record })
        {
            return ProblemTypes.Problem(422, ProblemTypes.UnknownResident, "unknown resident", "Juki-Net holds no record for this resident code");
        }

        var eligibility = CheckEligibility(account, checkedInput, record);
        if (eligibility is not null)
        {
            return eligibility;
        }

        var municipalityCode = record.MunicipalityCode.Value;
        var municipalityName = Municipalities.RomanisedName(municipalityCode);
        var prefecture = services.Settings.Prefectures.FirstOrDefault(p => p.Code == record.MunicipalityCode.PrefectureCode);
        if (municipalityName is null || prefecture is null)
        {
            return ProblemTypes.Problem(422, ProblemTypes.UnknownMunicipality, "unknown municipality", $"this CA does not issue for municipality {municipalityCode}");
        }

        var issuerId = $"{prefecture.Slug}-{(checkedInput.Kind == IssuerKind.Signing ? "signing" : "authentication")}";
        // The key is chosen by this request's clock: after a rollover's switch time, the new generation.
        var now = services.Options.Time.GetUtcNow();
        ActiveIssuerKey? issuerKey;
        try
        {
            issuerKey = services.IssuerKeys.For(issuerId, now);
        }
        catch (HsmException)
        {
            return HsmUnavailable();
        }

        if (issuerKey is null)
        {
            return ProblemTypes.Problem(503, ProblemTypes.IssuerUnavailable, "no issuer key", $"issuer '{issuerId}' has no active key");
        }

        CoreResidentFacts facts;
        JpkiBirthDate birthDate;
        try
        {
            birthDate = JpkiBirthDate.Parse(record.DateOfBirth.ToJpki());
            facts = new CoreResidentFacts(record.Name, record.NameSubstitutes, (ResidentSex)(int)record.Sex, birthDate, record.Address, record.AddressSubstitutes);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            LogInvalidRecord(logger, e.GetType().Name);
            return ProblemTypes.Problem(422, ProblemTypes.InvalidResidentRecord, "resident record unusable", "Juki-Net's record cannot go into a certificate; nothing was issued");
        }

        byte[] residentKey;
        try
        {
            residentKey = services.ResidentHmac.Compute(Encoding.ASCII.GetBytes(checkedInput.ResidentCode.Digits));
        }
        catch (HsmException)
        {
            return HsmUnavailable();
        }

        DateTimeOffset? renewalOf = null;
        if (checkedInput.Renews is { } renews)
        {
            await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
            var target = EndEntityCertificateStore.FindRenewalTarget(db, renews);
            if (CheckRenewalTarget(target, renews, checkedInput.Kind, residentKey, Instant.ToMicros(now)) is { } renewalProblem)
            {
                return renewalProblem;
            }

            renewalOf = Instant.FromMicros(target!.NotAfterUs);
        }

        DateTimeOffset? authNotAfter = null;
        if (checkedInput.Kind == IssuerKind.Signing)
        {
            await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
            authNotAfter = EndEntityCertificateStore.NewestAuthenticationNotAfter(db, residentKey, CaServices.ResidentHmacKeyId, Instant.ToMicros(now)) is { } us
                ? Instant.FromMicros(us)
                : null;
        }

        CertificateValidity validity;
        try
        {
            validity = CertificateValidity.Compute(now, birthDate, checkedInput.Kind, checkedInput.CardExpiry, authNotAfter, Instant.FromMicros(issuerKey.Key.NotAfterUs), renewalOf);
        }
        catch (InvalidOperationException e)
        {
            return ProblemTypes.Problem(422, ProblemTypes.ValidityEmpty, "no validity left", e.Message);
        }

        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        EndEntityRequest RequestFor(string subjectId) => new()
        {
            Kind = checkedInput.Kind,
            Prefecture = prefecture.ToPrefecture(),
            MunicipalityCode = municipalityCode,
            MunicipalityName = municipalityName,
            SubjectId = subjectId,
            SubjectPublicKeyInfo = csr.SubjectPublicKeyInfo,
            SerialNumber = serial,
            Validity = validity,
            Facts = checkedInput.Kind == IssuerKind.Signing ? facts : null,
            CrlBaseUrl = services.Settings.Urls.CrlBase,
            IssuerKeyId = issuerKey.Key.Id,
            OcspBaseUrl = services.Settings.Urls.OcspBase,
            CpsUrl = services.Settings.Urls.Cps,
            IssuerCertificate = issuerKey.Key.CertificateDer!,
        };

        IntendedCertificate intended;
        IssuedCertificate issued;
        try
        {
            // The intent (and its audit record) is committed before the HSM is asked; see IntendedIssuance.
            intended = await intents.IntendAsync(account, issuerKey, checkedInput.Kind, checkedInput.WindowId, serialHex, validity.NotBefore, RequestFor, context.RequestAborted);
            issued = await intents.SignAsync(intended, issuerKey);
        }
        catch (LintException e)
        {
            await AuditRefusalAsync(account, "certificate.lint-failed", serialHex, issuerKey, checkedInput, municipalityCode, e.Findings.Select(f => f.Rule));
            LogLintFailed(logger, issuerKey.Key.Id, string.Join(",", e.Findings.Select(f => f.Rule)));
            return ProblemTypes.Problem(500, ProblemTypes.LintFailed, "certificate failed pre-issuance lint", "the certificate was not signed: " + string.Join(", ", e.Findings.Select(f => f.Rule)));
        }
        catch (IssuanceIntegrityException)
        {
            await AuditRefusalAsync(account, "certificate.integrity-failed", serialHex, issuerKey, checkedInput, municipalityCode, []);
            return ProblemTypes.Problem(500, ProblemTypes.IssuanceIntegrity, "signed certificate differs from the linted one", "nothing was stored or handed out");
        }
        catch (HsmException)
        {
            return HsmUnavailable();
        }

        var answer = new IssuedCertificateAnswer(serialHex, issuerKey.Issuer.Id, issuerKey.Key.Id, Pem(issued.Der), validity.NotBefore, validity.NotAfter, checkedInput.Renews);
        var answerJson = JsonSerializer.Serialize(answer, ApiJson.Options);
        try
        {
            using (var tx = await services.Database.BeginWriteAsync(context.RequestAborted))
            {
                // Re-checked under the writers' lock: a concurrent retry or a concurrent request with the same key.
                // Each way out drops the signed certificate, so each is a 'signature.discarded' record.
                if (idempotencyKey.Length > 0 && IdempotencyStore.Find(tx.Connection, account.Id, idempotencyKey, tx.Transaction) is { } stored)
                {
                    return await intents.DiscardAsync(tx, intended, DiscardReasons.IdempotentReplay, Replay(stored, requestSha256));
                }

                if (EndEntityCertificateStore.PublicKeyCertified(tx.Connection, spkiSha256, tx.Transaction))
                {
                    return await intents.DiscardAsync(tx, intended, DiscardReasons.DuplicateKey, DuplicateKey());
                }

                // An officer may have stopped issuance, or frozen the key, while this one was signed.
                if (JukiNetFeedStore.IsStopped(tx, JukiNetFeedStore.IssuanceSwitch))
                {
                    return await intents.DiscardAsync(tx, intended, DiscardReasons.IssuanceStopped, IssuanceStopped());
                }

                if (Jpki.Core.Issuers.IssuerStore.FindKey(tx.Connection, issuerKey.Key.Id, tx.Transaction)?.State != "active")
                {
                    return await intents.DiscardAsync(tx, intended, DiscardReasons.IssuerKeyNotActive, ProblemTypes.Problem(503, ProblemTypes.IssuerUnavailable, "issuer key not active", $"issuer key '{issuerKey.Key.Id}' is no longer active; nothing was issued"));
                }

                // The renewed certificate may have been revoked (Juki-Net, the window) while this one was signed.
                if (checkedInput.Renews is { } renewed
                    && CheckRenewalTarget(EndEntityCertificateStore.FindRenewalTarget(tx.Connection, renewed, tx.Transaction), renewed, checkedInput.Kind, residentKey, Instant.NowMicros(tx.Time)) is { } renewalProblem)
                {
                    return await intents.DiscardAsync(tx, intended, DiscardReasons.RenewedCertificateUnusable, renewalProblem);
                }

                IntendedIssuance.Certified(tx, intended);
                EndEntityCertificateStore.Insert(tx, new EndEntityCertificateRow
                {
                    Serial = serialHex,
                    IssuerKeyId = issuerKey.Key.Id,
                    Kind = KindText(checkedInput.Kind),
                    MunicipalityCode = municipalityCode,
                    ResidentKey = residentKey,
                    HmacKeyId = CaServices.ResidentHmacKeyId,
                    JukiSequence = record.Sequence,
                    NotBeforeUs = Instant.ToMicros(validity.NotBefore),
                    NotAfterUs = Instant.ToMicros(validity.NotAfter),
                    Der = issued.Der,
                    CrlDpDer = issued.CrlDistributionPointsDer,
                    SpkiSha256 = spkiSha256,
                    CreatedUs = Instant.ToMicros(now),
                });
                var details = new JsonObject
                {
                    ["serial"] = serialHex,
                    ["issuerKeyId"] = issuerKey.Key.Id,
                    ["kind"] = KindText(checkedInput.Kind),
                    ["municipalityCode"] = municipalityCode,
                    ["jukiSequence"] = record.Sequence,
                    ["windowId"] = checkedInput.WindowId,
                    ["tbsSha256"] = Convert.ToHexStringLower(issued.TbsSha256),
                    ["birthdaysCounted"] = validity.BirthdaysCounted,
                    ["limitedBy"] = JsonNamingPolicy.CamelCase.ConvertName(validity.LimitedBy.ToString()),
                };
                if (checkedInput.Renews is { } renewsSerial)
                {
                    details["renews"] = renewsSerial;
                }

                if (checkedInput.OverrideReason is { } reason)
                {
                    details["overrideReason"] = reason;
                }

                services.Audit.Append(tx, new AuditRecord(account.Id, "certificate.issued", serialHex, details));

                // Still under the writers' lock: an event for this resident later than the record the
                // certificate was made from may have been applied meanwhile; it applies to this
                // certificate too, through the same rule table (DESIGN.md §5).
                if (ApplyLaterEvents(tx, serialHex, residentKey, record.Sequence) is { } revokedBy)
                {
                    var changed = ResidentChangedAtCommit(serialHex, revokedBy);
                    if (idempotencyKey.Length > 0)
                    {
                        IdempotencyStore.Insert(tx, account.Id, idempotencyKey, requestSha256, StatusCodes.Status409Conflict, changed);
                    }

                    await tx.CommitAsync(context.RequestAborted);
                    return Results.Text(changed, "application/problem+json", Encoding.UTF8, StatusCodes.Status409Conflict);
                }

                if (checkedInput.Renews is { } superseded)
                {
                    SupersedeRenewed(tx, account, superseded, serialHex, now);
                }

                if (idempotencyKey.Length > 0)
                {
                    IdempotencyStore.Insert(tx, account.Id, idempotencyKey, requestSha256, StatusCodes.Status201Created, answerJson);
                }

                await tx.CommitAsync(context.RequestAborted);
            }
        }
        catch (Exception e)
        {
            // The store did not take the signed certificate (a store error, or the request was aborted).
            await intents.StoreFailedAsync(intended, e);
            throw;
        }

        LogIssued(logger, serialHex, issuerKey.Key.Id, KindText(checkedInput.Kind), municipalityCode);
        return Results.Text(answerJson, "application/json", Encoding.UTF8, StatusCodes.Status201Created);
    }

    /// <summary>
    /// The renewal checks (DESIGN.md §9, issue 8): the certificate exists, is the same resident's
    /// (same keyed hash under the same HMAC key), of the same kind, good and not expired.
    /// </summary>
    private static IResult? CheckRenewalTarget(RenewalTargetRow? target, string serial, IssuerKind kind, byte[] residentKey, long nowUs)
    {
        if (target is null)
        {
            return ProblemTypes.Problem(422, ProblemTypes.RenewalNotFound, "renewed certificate not found", $"the CA issued no resident certificate with serial {serial}; nothing was issued");
        }

        if (target.ResidentKey is null || target.HmacKeyId != CaServices.ResidentHmacKeyId || !target.ResidentKey.AsSpan().SequenceEqual(residentKey))
        {
            return ProblemTypes.Problem(403, ProblemTypes.RenewalNotTheHolder, "renewed certificate is another resident's", "the certificate to renew does not belong to this resident; nothing was issued");
        }

        if (target.Kind != KindText(kind))
        {
            return ProblemTypes.Problem(422, ProblemTypes.RenewalKindMismatch, "renewed certificate is of another kind", $"a {KindText(kind)} certificate renews a {KindText(kind)} certificate, not a {target.Kind} one; nothing was issued");
        }

        if (target.Status != "good")
        {
            return ProblemTypes.Problem(409, ProblemTypes.RenewalRevoked, "renewed certificate is revoked", "a revoked certificate is not renewed; issue without renews; nothing was issued");
        }

        if (target.NotAfterUs <= nowUs)
        {
            return ProblemTypes.Problem(422, ProblemTypes.RenewalExpired, "renewed certificate has expired", "an expired certificate is not renewed; issue without renews; nothing was issued");
        }

        return null;
    }

    /// <summary>
    /// Revokes the renewed certificate as superseded (cause renewal), in the transaction that
    /// stores its successor: a request row names who and why, so the revocation trail follows it
    /// like any window request; the status change is what OCSP and the CRLs read.
    /// </summary>
    private void SupersedeRenewed(WriteTransaction tx, Account account, string oldSerial, string newSerial, DateTimeOffset now)
    {
        var statement = $"renewed by certificate {newSerial}";
        var requestId = RevocationRequestStore.RecordRequest(tx, oldSerial, RevocationCause.Renewal, account.Id, statement, Instant.ToMicros(now));
        var result = services.Revoker.Revoke(tx, new RevocationOrder
        {
            Serial = oldSerial,
            Cause = RevocationCause.Renewal,
            Source = RevocationRequestStore.SourceOf(requestId),
            Actor = account.Id,
            InvalidityDate = Jst.DateOf(now),
        });
        if (result.Outcome != RevocationOutcome.Revoked)
        {
            // Checked good under this same lock a moment ago: anything else is a bug, and nothing may commit.
            throw new InvalidOperationException($"renewed certificate {oldSerial} was not revoked: {result.Outcome}");
        }

        services.Audit.Append(tx, new AuditRecord(account.Id, "revocation.requested", oldSerial, new JsonObject
        {
            ["requestId"] = requestId,
            ["cause"] = RevocationRules.WireName(RevocationCause.Renewal),
            ["statement"] = statement,
            ["outcome"] = "revoked",
        }));
    }

    /// <summary>Revokes the new certificate for each later recorded event whose rule revokes it; the last such event, or null.</summary>
    private StoredFeedEvent? ApplyLaterEvents(WriteTransaction tx, string serial, byte[] residentKey, long basedOnSequence)
    {
        StoredFeedEvent? revokedBy = null;
        foreach (var later in JukiNetFeedStore.ResidentEventsAfter(tx, residentKey, CaServices.ResidentHmacKeyId, basedOnSequence))
        {
            var cause = RevocationRules.ParseCause(later.Cause)
                ?? throw new InvalidOperationException($"stored event {later.Sequence} names an unknown cause");
            var result = services.Revoker.Revoke(tx, new RevocationOrder
            {
                Serial = serial,
                Cause = cause,
                Source = JukiNetFeedApplier.SourceOf(later.Sequence),
                Actor = JukiNetFeedApplier.Actor,
                InvalidityDate = Instant.ParseDateText(later.EffectiveDate),
            });
            if (result.Changed)
            {
                revokedBy = later;
            }
        }

        return revokedBy;
    }

    private static string ResidentChangedAtCommit(string serial, StoredFeedEvent revokedBy) =>
        new JsonObject
        {
            ["type"] = ProblemTypes.ResidentChanged,
            ["title"] = "resident changed",
            ["status"] = StatusCodes.Status409Conflict,
            ["detail"] = "Juki-Net recorded a change for this resident after the record this certificate was made from; the certificate was revoked at once and must not be delivered",
            ["serial"] = serial,
            ["revokedBy"] = JukiNetFeedApplier.SourceOf(revokedBy.Sequence),
            ["cause"] = revokedBy.Cause,
        }.ToJsonString();

    public static string KindText(IssuerKind kind) => kind == IssuerKind.Signing ? "signing" : "authentication";

    public static string Pem(byte[] der) =>
        "-----BEGIN CERTIFICATE-----\n" + Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal)
        + "\n-----END CERTIFICATE-----\n";

    private sealed record CheckedInput(ResidentCode ResidentCode, IssuerKind Kind, string WindowId, long? JukiSequence, DateOnly? CardExpiry, string? OverrideReason, string? Renews);

    private static (CheckedInput? Input, IResult? Problem) Check(IssueCertificateRequest body)
    {
        static (CheckedInput?, IResult?) Invalid(string detail) =>
            (null, ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", detail));

        if (!ResidentCode.TryParse(body.ResidentCode, out var code, out _))
        {
            return Invalid("residentCode must be 11 digits with a valid check digit");
        }

        IssuerKind kind;
        switch (body.Kind)
        {
            case "signing":
                kind = IssuerKind.Signing;
                break;
            case "authentication":
                kind = IssuerKind.Authentication;
                break;
            default:
                return Invalid("kind must be \"signing\" or \"authentication\"");
        }

        if (string.IsNullOrWhiteSpace(body.Csr))
        {
            return Invalid("csr (PEM or base64 DER PKCS#10) is required");
        }

        if (body.WindowId is not { Length: 9 } windowId || !windowId.All(char.IsAsciiLetterOrDigit))
        {
            return Invalid("windowId must be 9 ASCII letters or digits");
        }

        if (body.JukiSequence is < 0)
        {
            return Invalid("jukiSequence must not be negative");
        }

        DateOnly? cardExpiry = null;
        if (body.CardExpiry is not null)
        {
            if (!DateOnly.TryParseExact(body.CardExpiry, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var expiry))
            {
                return Invalid("cardExpiry must be a date YYYY-MM-DD");
            }

            cardExpiry = expiry;
        }

        string? overrideReason = null;
        if (body.Override is not null)
        {
            if (string.IsNullOrWhiteSpace(body.Override.Reason) || body.Override.Reason.Length > 500)
            {
                return Invalid("override.reason must be 1-500 characters");
            }

            overrideReason = body.Override.Reason.Trim();
        }

        string? renews = null;
        if (body.Renews is not null)
        {
            renews = body.Renews.Trim().ToLowerInvariant();
            if (renews.Length is 0 or > 40 || !renews.All(char.IsAsciiHexDigitLower))
            {
                return Invalid("renews must be the hex serial (1-40 digits) of the certificate this one renews");
            }
        }

        return (new CheckedInput(code, kind, windowId, body.JukiSequence, cardExpiry, overrideReason, renews), null);
    }

    private IResult? CheckEligibility(Account account, CheckedInput input, ResidentRecord record)
    {
        if (record.Status != ResidentStatus.Registered)
        {
            return ProblemTypes.Problem(422, ProblemTypes.ResidentNotEligible, "resident not eligible", $"Juki-Net reports the resident as {JsonNamingPolicy.CamelCase.ConvertName(record.Status.ToString())}");
        }

        if (!account.IsBoundTo(record.MunicipalityCode.Value))
        {
            return ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", $"account '{account.Id}' may not issue for municipality {record.MunicipalityCode.Value}");
        }

        if (input.JukiSequence is { } confirmed && confirmed != record.Sequence)
        {
            return ProblemTypes.Problem(409, ProblemTypes.ResidentChanged, "resident changed", $"the resident's record changed since it was confirmed (sequence {confirmed}, now {record.Sequence}); look it up again");
        }

        if (input.Kind == IssuerKind.Signing && input.OverrideReason is null)
        {
            var today = Jst.DateOf(services.Options.Time.GetUtcNow());
            // With an unknown month or day, count from the latest possible birthday: never too young by accident.
            if (record.DateOfBirth.Latest.AddYears(MinimumSigningAge) > today)
            {
                return ProblemTypes.Problem(422, ProblemTypes.Under15, "resident under 15", "a signing certificate for a resident under 15 needs an officer's override with a reason");
            }
        }

        return null;
    }

    private async Task AuditRefusalAsync(Account account, string action, string serialHex, ActiveIssuerKey issuerKey, CheckedInput input, string municipalityCode, IEnumerable<string> rules)
    {
        using var tx = await services.Database.BeginWriteAsync();
        services.Audit.Append(tx, new AuditRecord(account.Id, action, serialHex, new JsonObject
        {
            ["issuerKeyId"] = issuerKey.Key.Id,
            ["kind"] = KindText(input.Kind),
            ["municipalityCode"] = municipalityCode,
            ["windowId"] = input.WindowId,
            ["rules"] = new JsonArray([.. rules.Select(r => JsonValue.Create(r))]),
        }));
        await tx.CommitAsync();
    }

    private static IResult Replay(StoredAnswer stored, string requestSha256) =>
        stored.RequestSha256 == requestSha256
            ? Results.Text(stored.Body, stored.Status >= 400 ? "application/problem+json" : "application/json", Encoding.UTF8, stored.Status)
            : ProblemTypes.Problem(422, ProblemTypes.IdempotencyKeyReused, "Idempotency-Key reused", "this Idempotency-Key was used with a different request body");

    /// <summary>
    /// An operator's certificates over the last hour and day against <c>accounts.issuancePerOperatorPer*</c>,
    /// so that a stolen operator token cannot issue at machine speed. Checked before signing, not
    /// under the writers' lock: concurrent requests of one operator may pass the limit by the few
    /// that are being signed at that moment.
    /// </summary>
    private IResult? RateLimited(System.Data.Common.DbConnection db, Account account, HttpContext context)
    {
        var now = services.Options.Time.GetUtcNow();
        var limits = services.Settings.Accounts;
        foreach (var (window, limit) in new[] { (TimeSpan.FromHours(1), limits.IssuancePerOperatorPerHour), (TimeSpan.FromDays(1), limits.IssuancePerOperatorPerDay) })
        {
            if (Jpki.Core.Audit.AccessReportStore.CountActs(db, account.Id, "certificate.issued", Jpki.Core.Store.Instant.ToMicros(now - window)) >= limit)
            {
                context.Response.Headers.RetryAfter = ((long)window.TotalSeconds / 12).ToString(System.Globalization.CultureInfo.InvariantCulture);
                logger.LogWarning("issuance refused: {Account} reached {Limit} certificates per {Window}", account.Id, limit, window);
                return ProblemTypes.Problem(429, ProblemTypes.IssuanceRateLimited, "issuance rate reached", $"this account has had {limit} certificates issued in the last {window.TotalHours:0} hours, its limit; nothing was issued");
            }
        }

        return null;
    }

    private static IResult IssuanceStopped() =>
        ProblemTypes.Problem(503, ProblemTypes.IssuanceStopped, "issuance stopped", "an officer has stopped issuance (PUT /api/v1/switches/issuance); nothing was issued");

    private static IResult DuplicateKey() =>
        ProblemTypes.Problem(409, ProblemTypes.DuplicateKey, "public key already certified", "a certificate for this public key exists; a card key is certified once");

    private static IResult HsmUnavailable() =>
        ProblemTypes.Problem(503, ProblemTypes.HsmUnavailable, "HSM unavailable", "the HSM did not answer; nothing was issued");

    [LoggerMessage(Level = LogLevel.Information, Message = "issued certificate {Serial} by {IssuerKeyId} ({Kind}) for municipality {MunicipalityCode}")]
    private static partial void LogIssued(ILogger logger, string serial, string issuerKeyId, string kind, string municipalityCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "pre-issuance lint failed for {IssuerKeyId}: {Rules}")]
    private static partial void LogLintFailed(ILogger logger, string issuerKeyId, string rules);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net record cannot be certified ({Problem})")]
    private static partial void LogInvalidRecord(ILogger logger, string problem);
}
