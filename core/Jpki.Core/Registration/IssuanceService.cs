using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Clock;
using Jpki.Core.Configuration;
using Jpki.Core.Issuance;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Requests;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Jpki.JukiNet;
using Microsoft.Extensions.Logging;
using IssuedCertificate = Jpki.Core.Issuance.IssuedCertificate;
using ResidentFacts = Jpki.Core.Issuance.ResidentFacts;

namespace Jpki.Core.Registration;

/// <summary>
/// The registration authority (docs/design.md §9), apart from HTTP: issues one end-entity certificate
/// for a window's request. It checks the request's key, asks Juki-Net for the resident's current
/// record, applies the rules (<see cref="EligibilityPolicy"/>, <see cref="ProfilePolicy"/>,
/// <see cref="RenewalPolicy"/>, <see cref="ValidityPolicy"/>, <see cref="IssuanceRateLimit"/>),
/// builds, lints and signs the certificate (<see cref="IntendedIssuance"/>) and stores it with
/// <see cref="IssuanceCommit"/>. Every refusal is an <see cref="IssuanceRefused"/> and changes
/// nothing but the records of a discarded signature.
/// </summary>
public sealed partial class IssuanceService
{
    private readonly Database database;
    private readonly AuditLog audit;
    private readonly ClockGuard clock;
    private readonly JpkiSettings settings;
    private readonly IssuingKeys issuerKeys;
    private readonly ResidentSource residents;
    private readonly IIssuanceAnswerBodies bodies;
    private readonly TimeProvider time;
    private readonly ILogger<IssuanceService> logger;
    private readonly IntendedIssuance intents;
    private readonly IssuanceCommit commit;
    private readonly IssuanceRateLimit rateLimit;

    public IssuanceService(
        Database database,
        AuditLog audit,
        CertificateRevoker revoker,
        ClockGuard clock,
        JpkiSettings settings,
        IssuingKeys issuerKeys,
        ResidentSource residents,
        IIssuanceAnswerBodies bodies,
        TimeProvider time,
        ILogger<IssuanceService> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(residents);
        this.database = database;
        this.audit = audit;
        this.clock = clock;
        this.settings = settings;
        this.issuerKeys = issuerKeys;
        this.residents = residents;
        this.bodies = bodies;
        this.time = time;
        this.logger = logger;
        intents = new IntendedIssuance(database, audit);
        commit = new IssuanceCommit(database, audit, revoker, intents, residents.HmacKeyId, bodies);
        rateLimit = IssuanceRateLimit.From(settings.Accounts);
    }

    /// <summary>
    /// The answer stored for the operator's <paramref name="idempotencyKey"/>: the same answer for
    /// the same body, a refusal for another body, or null when the key is new.
    /// </summary>
    public async Task<IssuanceResult?> FindReplayAsync(string account, string idempotencyKey, string requestSha256, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenConnectionAsync(cancellationToken);
        return IdempotencyStore.Find(db, account, idempotencyKey) is { } stored ? Replay(stored, requestSha256) : null;
    }

    /// <summary>Issues the certificate <paramref name="ask"/> asks for, or says why not.</summary>
    public async Task<IssuanceResult> IssueAsync(IssuanceAsk ask, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ask);
        if (ClockRefusal() is { } clockRefusal)
        {
            return clockRefusal;
        }

        // The Juki-Net round trip runs while the request's key is checked (weak-key arithmetic,
        // store reads): the two are independent, and the window waits for their sum otherwise.
        // An answer refused before the lookup is needed cancels it; nothing is read from it then.
        using var lookupCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var lookupTask = residents.Lookup(ask.ResidentCode, lookupCancel.Token);
        try
        {
            return await IssueWhileLookingUpAsync(ask, lookupTask, cancellationToken);
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

    internal static IssuanceResult Replay(StoredAnswer stored, string requestSha256) =>
        stored.RequestSha256 == requestSha256
            ? new IssuanceReplayed(stored)
            : new IssuanceRefused(IssuanceRefusal.IdempotencyKeyReused, "this Idempotency-Key was used with a different request body");

    internal static IssuanceRefused IssuanceStopped() =>
        new(IssuanceRefusal.IssuanceStopped, "an officer has stopped issuance (PUT /api/v1/switches/issuance); nothing was issued");

    internal static IssuanceRefused DuplicateKey() =>
        new(IssuanceRefusal.DuplicateKey, "a certificate for this public key exists; a card key is certified once");

    private static IssuanceRefused HsmUnavailable() =>
        new(IssuanceRefusal.HsmUnavailable, "the HSM did not answer; nothing was issued");

    /// <summary>While the clock refuses signatures, nothing is looked up, numbered or signed.</summary>
    private IssuanceRefused? ClockRefusal()
    {
        var verdict = clock.Current;
        return verdict.MaySign
            ? null
            : new IssuanceRefused(IssuanceRefusal.ClockUnsynchronised, $"{verdict.Reason}; nothing was issued, try again later") { RetryAfterSeconds = clock.Settings.CheckEverySeconds };
    }

    private async Task<IssuanceResult> IssueWhileLookingUpAsync(IssuanceAsk ask, Task<ResidentLookupResult> lookupTask, CancellationToken cancellationToken)
    {
        CheckedRequest csr;
        try
        {
            csr = CertificationRequestReader.Read(Encoding.ASCII.GetBytes(ask.Csr));
        }
        catch (CsrRejectedException e)
        {
            return new IssuanceRefused(IssuanceRefusal.CsrRejected, e.Detail) { CsrProblem = e.Problem };
        }

        var spkiSha256 = Convert.ToHexStringLower(SHA256.HashData(csr.SubjectPublicKeyInfo));
        if (await CheckBeforeLookupAsync(ask, spkiSha256, cancellationToken) is { } early)
        {
            return early;
        }

        var (record, lookupRefusal) = await AwaitLookupAsync(lookupTask);
        if (record is null)
        {
            return lookupRefusal!;
        }

        var (plan, refusal) = await PlanAsync(ask, record, cancellationToken);
        return plan is null ? refusal! : await SignAndStoreAsync(ask, plan, csr, spkiSha256, cancellationToken);
    }

    /// <summary>What refuses a request whatever the resident: the issuance switch, the operator's rate, a key certified already.</summary>
    private async Task<IssuanceResult?> CheckBeforeLookupAsync(IssuanceAsk ask, string spkiSha256, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenConnectionAsync(cancellationToken);
        if (JukiNetFeedStore.IsStopped(db, JukiNetFeedStore.IssuanceSwitch))
        {
            return IssuanceStopped();
        }

        var now = time.GetUtcNow();
        if (rateLimit.Check(window => AccessReportStore.CountActs(db, ask.Operator.Id, IssuanceCommit.IssuedAction, Instant.ToMicros(now - window))) is { } reached)
        {
            logger.LogWarning("issuance refused: {Account} reached {Limit} certificates per {Window}", ask.Operator.Id, reached.Limit, reached.Window);
            return reached.Refusal();
        }

        if (EndEntityCertificateStore.PublicKeyCertified(db, spkiSha256))
        {
            // A retry racing its first attempt may find the key certified by that attempt.
            return ask.HasIdempotencyKey && IdempotencyStore.Find(db, ask.Operator.Id, ask.IdempotencyKey) is { } stored
                ? Replay(stored, ask.RequestSha256)
                : DuplicateKey();
        }

        return null;
    }

    private static async Task<(ResidentRecord? Record, IssuanceRefused? Refused)> AwaitLookupAsync(Task<ResidentLookupResult> lookupTask)
    {
        try
        {
            return await lookupTask is ResidentFound { Record: var record }
                ? (record, null)
                : (null, new IssuanceRefused(IssuanceRefusal.UnknownResident, "Juki-Net holds no record for this resident code"));
        }
        catch (JukiNetUnavailableException)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.JukiNetUnavailable, "the resident registry did not answer; nothing was issued, try again later"));
        }
        catch (JukiNetProtocolException)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.JukiNetProtocol, "the resident registry's answer could not be read; nothing was issued"));
        }
    }

    /// <summary>Everything decided before anything is numbered or signed: eligibility, issuer, facts, validity.</summary>
    private async Task<(IssuancePlan? Plan, IssuanceRefused? Refused)> PlanAsync(IssuanceAsk ask, ResidentRecord record, CancellationToken cancellationToken)
    {
        if (EligibilityPolicy.Check(EligibilityCase.Of(ask, record, Jst.DateOf(time.GetUtcNow()))) is { } notEligible)
        {
            return (null, notEligible);
        }

        var (profile, unknownMunicipality) = ProfilePolicy.Choose(record.MunicipalityCode.Value, ask.Kind, settings.Prefectures);
        if (profile is null)
        {
            return (null, unknownMunicipality);
        }

        // The key is chosen by this request's clock: after a rollover's switch time, the new generation.
        var now = time.GetUtcNow();
        ActiveIssuerKey? issuerKey;
        try
        {
            issuerKey = issuerKeys.For(profile.IssuerId, now);
        }
        catch (HsmException)
        {
            return (null, HsmUnavailable());
        }

        if (issuerKey is null)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.IssuerUnavailable, $"issuer '{profile.IssuerId}' has no active key"));
        }

        if (ReadFacts(record) is not { } facts)
        {
            return (null, new IssuanceRefused(IssuanceRefusal.InvalidResidentRecord, "Juki-Net's record cannot go into a certificate; nothing was issued"));
        }

        byte[] residentKey;
        try
        {
            residentKey = residents.KeyOf(ask.ResidentCode);
        }
        catch (HsmException)
        {
            return (null, HsmUnavailable());
        }

        var (validity, refused) = await DecideValidityAsync(ask, profile, issuerKey, facts.DateOfBirth, residentKey, now, cancellationToken);
        return validity is null
            ? (null, refused)
            : (new IssuancePlan(profile, issuerKey, record, facts, residentKey, validity, now), null);
    }

    private ResidentFacts? ReadFacts(ResidentRecord record)
    {
        try
        {
            var birthDate = JpkiBirthDate.Parse(record.DateOfBirth.ToJpki());
            return new ResidentFacts(record.Name, record.NameSubstitutes, (ResidentSex)(int)record.Sex, birthDate, record.Address, record.AddressSubstitutes);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            LogInvalidRecord(logger, e.GetType().Name);
            return null;
        }
    }

    /// <summary>The renewal's checks and the store's caps (renewed certificate, authentication certificate), then the validity.</summary>
    private async Task<(CertificateValidity? Validity, IssuanceRefused? Refused)> DecideValidityAsync(
        IssuanceAsk ask, ProfileChoice profile, ActiveIssuerKey issuerKey, JpkiBirthDate birthDate, byte[] residentKey, DateTimeOffset now, CancellationToken cancellationToken)
    {
        DateTimeOffset? renewalOf = null;
        if (ask.Renews is { } renews)
        {
            await using var db = await database.OpenConnectionAsync(cancellationToken);
            var target = EndEntityCertificateStore.FindRenewalTarget(db, renews);
            if (RenewalPolicy.Check(target, renews, ask.Kind, residentKey, residents.HmacKeyId, Instant.ToMicros(now)) is { } renewalRefused)
            {
                return (null, renewalRefused);
            }

            renewalOf = Instant.FromMicros(target!.NotAfterUs);
        }

        DateTimeOffset? authNotAfter = null;
        if (profile.CappedByAuthenticationCertificate)
        {
            await using var db = await database.OpenConnectionAsync(cancellationToken);
            authNotAfter = EndEntityCertificateStore.NewestAuthenticationNotAfter(db, residentKey, residents.HmacKeyId, Instant.ToMicros(now)) is { } us
                ? Instant.FromMicros(us)
                : null;
        }

        return ValidityPolicy.Decide(new ValidityCase(now, birthDate, ask.Kind, ask.CardExpiry, authNotAfter, Instant.FromMicros(issuerKey.Key.NotAfterUs), renewalOf));
    }

    private async Task<IssuanceResult> SignAndStoreAsync(IssuanceAsk ask, IssuancePlan plan, CheckedRequest csr, string spkiSha256, CancellationToken cancellationToken)
    {
        var serial = SerialNumbers.New();
        var serialHex = SerialNumbers.ToHex(serial);
        var issuerKey = plan.IssuerKey;
        IntendedCertificate intended;
        IssuedCertificate issued;
        try
        {
            // The intent (and its audit record) is committed before the HSM is asked; see IntendedIssuance.
            intended = await intents.IntendAsync(ask.Operator, issuerKey, ask.Kind, ask.WindowId, serialHex, plan.Validity.NotBefore, subjectId => RequestFor(plan, csr, serial, subjectId), cancellationToken);
            issued = await intents.SignAsync(intended, issuerKey);
        }
        catch (LintException e)
        {
            var rules = e.Findings.Select(f => f.Rule).ToList();
            await AuditRefusalAsync(ask, "certificate.lint-failed", serialHex, plan, rules);
            LogLintFailed(logger, issuerKey.Key.Id, string.Join(",", rules));
            return new IssuanceRefused(IssuanceRefusal.LintFailed, "the certificate was not signed: " + string.Join(", ", rules));
        }
        catch (IssuanceIntegrityException)
        {
            await AuditRefusalAsync(ask, "certificate.integrity-failed", serialHex, plan, []);
            return new IssuanceRefused(IssuanceRefusal.IssuanceIntegrity, "nothing was stored or handed out");
        }
        catch (HsmException)
        {
            return HsmUnavailable();
        }

        var answer = new IssuedCertificateAnswer(serialHex, issuerKey.Issuer.Id, issuerKey.Key.Id, CertificatePem.Of(issued.Der), plan.Validity.NotBefore, plan.Validity.NotAfter, ask.Renews);
        var result = await commit.StoreAsync(ask, plan, new SignedCertificate(intended, issued, spkiSha256, answer, bodies.Issued(answer)), cancellationToken);
        if (result is IssuanceIssued)
        {
            LogIssued(logger, serialHex, issuerKey.Key.Id, ProfilePolicy.KindName(ask.Kind), plan.Profile.MunicipalityCode);
        }

        return result;
    }

    private EndEntityRequest RequestFor(IssuancePlan plan, CheckedRequest csr, Org.BouncyCastle.Math.BigInteger serial, string subjectId) => new()
    {
        Kind = plan.Profile.Kind,
        Prefecture = plan.Profile.Prefecture.ToPrefecture(),
        MunicipalityCode = plan.Profile.MunicipalityCode,
        MunicipalityName = plan.Profile.MunicipalityName,
        SubjectId = subjectId,
        SubjectPublicKeyInfo = csr.SubjectPublicKeyInfo,
        SerialNumber = serial,
        Validity = plan.Validity,
        Facts = plan.Profile.CarriesResidentFacts ? plan.Facts : null,
        CrlBaseUrl = settings.Urls.CrlBase,
        IssuerKeyId = plan.IssuerKey.Key.Id,
        OcspBaseUrl = settings.Urls.OcspBase,
        CpsUrl = settings.Urls.Cps,
        IssuerCertificate = plan.IssuerKey.Key.CertificateDer!,
    };

    private async Task AuditRefusalAsync(IssuanceAsk ask, string action, string serialHex, IssuancePlan plan, IEnumerable<string> rules)
    {
        using var tx = await database.BeginWriteAsync();
        audit.Append(tx, new AuditRecord(ask.Operator.Id, action, serialHex, new JsonObject
        {
            ["issuerKeyId"] = plan.IssuerKey.Key.Id,
            ["kind"] = ProfilePolicy.KindName(ask.Kind),
            ["municipalityCode"] = plan.Profile.MunicipalityCode,
            ["windowId"] = ask.WindowId,
            ["rules"] = new JsonArray([.. rules.Select(r => JsonValue.Create(r))]),
        }));
        await tx.CommitAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "issued certificate {Serial} by {IssuerKeyId} ({Kind}) for municipality {MunicipalityCode}")]
    private static partial void LogIssued(ILogger logger, string serial, string issuerKeyId, string kind, string municipalityCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "pre-issuance lint failed for {IssuerKeyId}: {Rules}")]
    private static partial void LogLintFailed(ILogger logger, string issuerKeyId, string rules);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net record cannot be certified ({Problem})")]
    private static partial void LogInvalidRecord(ILogger logger, string problem);
}
