using System.Data.Common;
using Jpki.Ca.Access;
using Jpki.Ca.OfficerConsole.Views;
using Jpki.Core.Accounts;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The console's read pages. Each reads through the store class of its table (the same calls as
/// the JSON API's handlers) on one connection and renders one view; nothing here writes.
/// </summary>
public sealed class ConsoleReadHandler(CaServices services, FeedHealth health)
{
    /// <summary>At most this many rows of a list (requests, quarantine) on a page, newest first.</summary>
    public const int ListLimit = 200;

    private static readonly AccountRole[] Roles = [AccountRole.Officer, AccountRole.Auditor, AccountRole.Operator, AccountRole.Verifier];

    public Task<IResult> AccountsAsync(HttpContext context) => PageAsync(context, db => ConsolePages.View<AccountsView>(Frame(context, new
    {
        Accounts = Roles.SelectMany(role => AccountStore.ListByRole(db, role)).ToList(),
    })));

    /// <summary>One account with the forms that change it, its pending requests and (a verifier's) client certificates; 404 page for an unknown id.</summary>
    public Task<IResult> AccountAsync(string id, HttpContext context) => PageAsync(context, db =>
    {
        if (AccountStore.Find(db, id) is not { } account)
        {
            return ConsolePages.View<ConsoleMessageView>(
                Frame(context, new { Title = "エラー Error", Error = "アカウントがありません no such account", Id = "error", Back = true, BackTo = "/console/accounts" }),
                StatusCodes.Status404NotFound);
        }

        return ConsolePages.View<AccountView>(Frame(context, new
        {
            Account = account,
            Pending = ApprovalStore.List(db, ApprovalState.Pending, ListLimit).Where(r => r.Subject == id && r.Action is not (ApprovalAction.SwitchRelease or ApprovalAction.IssuerKeyRetire or ApprovalAction.ResponderKeyCompromise or ApprovalAction.CheckpointKeyCompromise)).ToList(),
            Certificates = account.Role == AccountRole.Verifier ? ClientCertificateStore.List(db, id) : [],
            NowUs = Instant.NowMicros(services.Options.Time),
            Done = DoneMessage(context.Request.Query),
        }));
    });

    /// <summary>Pending requests (with the approve and reject forms), then the latest decided ones; <c>?approved=</c>, <c>?rejected=</c> or <c>?requested=</c> name what the officer just did.</summary>
    public Task<IResult> ApprovalsAsync(HttpContext context) => PageAsync(context, db =>
    {
        var all = ApprovalStore.List(db, null, ListLimit);
        return ConsolePages.View<ApprovalsView>(Frame(context, new
        {
            Pending = all.Where(r => r.State == ApprovalState.Pending).ToList(),
            Decided = all.Where(r => r.State != ApprovalState.Pending).Take(20).ToList(),
            NowUs = Instant.NowMicros(services.Options.Time),
            Done = DoneMessage(context.Request.Query),
        }));
    });

    public Task<IResult> SwitchesAsync(HttpContext context) => PageAsync(context, db =>
    {
        var releases = ApprovalStore.List(db, ApprovalState.Pending, ListLimit).Where(r => r.Action == ApprovalAction.SwitchRelease).ToList();
        return ConsolePages.View<SwitchesView>(Frame(context, new
        {
            Switches = new[] { JukiNetFeedStore.FeedSwitch, JukiNetFeedStore.IssuanceSwitch }
                .Select(name => new SwitchRow(name, JukiNetFeedStore.FindSwitch(db, name), releases.FirstOrDefault(r => r.Subject == name)?.Id))
                .ToList(),
            Done = DoneMessage(context.Request.Query),
            History = JukiNetFeedStore.ListSwitchDecisions(db, 50),
        }));
    });

    public Task<IResult> FeedAsync(HttpContext context) => PageAsync(context, db => ConsolePages.View<FeedView>(Frame(context, new
    {
        Position = JukiNetFeedStore.ReadPosition(db),
        Health = health.Current,
        Gaps = JukiNetFeedStore.ListGaps(db, openOnly: false),
        Quarantine = JukiNetFeedStore.ListQuarantine(db, ListLimit),
        Done = DoneMessage(context.Request.Query),
    })));

    public Task<IResult> IssuersAsync(HttpContext context) => PageAsync(context, db => ConsolePages.View<IssuersView>(Frame(context, new
    {
        Issuers = IssuerStore.ListIssuers(db).Select(issuer => new IssuerKeys(issuer, IssuerStore.ListKeys(db, issuer.Id))).ToList(),
        NowUs = Instant.NowMicros(services.Options.Time),
        Compromises = RevocationRequestStore.ListUnapprovedCompromises(db, ListLimit),
        Done = DoneMessage(context.Request.Query),
    })));

    public Task<IResult> VerifiersAsync(HttpContext context) => PageAsync(context, db => ConsolePages.View<VerifiersView>(Frame(context, new
    {
        Verifiers = AccountStore.ListByRole(db, AccountRole.Verifier).Select(v => new VerifierCertificates(v, ClientCertificateStore.List(db, v.Id))).ToList(),
        NowUs = Instant.NowMicros(services.Options.Time),
    })));

    /// <summary>Every CRL series with its last number, and when the publisher's schedules fire next (they fire on boundaries of their interval from the Unix epoch, whichever instance runs them).</summary>
    public Task<IResult> CrlsAsync(HttpContext context) => PageAsync(context, db =>
    {
        var crl = services.Settings.Crl;
        var nowUs = Instant.NowMicros(services.Options.Time);
        return ConsolePages.View<CrlsView>(Frame(context, new
        {
            Series = CrlSeriesStore.List(db),
            NowUs = nowUs,
            NextCompleteUs = NextBoundary(nowUs, TimeSpan.FromHours(crl.CompleteEveryHours)),
            NextDeltaUs = NextBoundary(nowUs, TimeSpan.FromMinutes(crl.DeltaEveryMinutes)),
        }));
    });

    private static long NextBoundary(long nowUs, TimeSpan interval)
    {
        var step = Math.Max(1, (long)interval.TotalMicroseconds);
        return ((nowUs / step) + 1) * step;
    }

    /// <summary>The parameters every page's frame needs (the officer, the form token) with the page's own.</summary>
    private static Dictionary<string, object?> Frame(HttpContext context, object page)
    {
        var parameters = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["Officer"] = context.Caller().Id,
            ["Csrf"] = ConsoleForms.TokenOf(context),
        };
        foreach (var property in page.GetType().GetProperties())
        {
            parameters[property.Name] = property.GetValue(page);
        }

        return parameters;
    }

    /// <summary>The sentence for what the officer just did, from the redirect's query; only numbers are taken from it.</summary>
    private static string? DoneMessage(IQueryCollection query)
    {
        static long? Id(string? text) => long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;
        var removed = query["removed"].ToString();
        return (Id(query["approved"]), Id(query["rejected"]), Id(query["requested"]), query["stopped"].ToString()) switch
        {
            ({ } id, _, _, _) => $"申請 {id} を承認しました request {id} approved",
            (_, { } id, _, _) => $"申請 {id} を却下しました request {id} rejected",
            (_, _, { } id, _) => $"申請しました（申請 {id}）。別の職員の承認が必要です requested (request {id}); another officer must approve",
            (_, _, _, "feed" or "issuance") => $"{query["stopped"]} を停止しました {query["stopped"]} stopped",
            _ when Id(query["closed"]) is { } gap => $"欠番 {gap} を解決にしました gap {gap} closed",
            _ when Id(query["compromiseRequested"]) is { } request => $"危殆化を申請しました（申請 {request}）。別の職員の承認が必要です compromise requested (request {request}); another officer must approve",
            _ when Id(query["compromised"]) is { } request => $"危殆化を承認しました（申請 {request}）。失効した証明書 {Id(query["revoked"]) ?? 0} 件 compromise approved (request {request}); {Id(query["revoked"]) ?? 0} certificates revoked",
            _ when query["disabled"] == "1" => "無効にしました disabled",
            _ when query["enabled"] == "1" => "有効にしました enabled",
            _ when removed.Length == 64 && removed.All(char.IsAsciiHexDigitLower) => $"クライアント証明書 {removed} を削除しました client certificate {removed} removed",
            _ => null,
        };
    }

    private async Task<IResult> PageAsync(HttpContext context, Func<DbConnection, IResult> render)
    {
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        return render(db);
    }
}

/// <summary>A kill switch's recorded decision (null: never pulled) and the pending request to release it, if any.</summary>
public sealed record SwitchRow(string Name, KillSwitch? Current, long? PendingRelease);

/// <summary>An issuer and its key generations.</summary>
public sealed record IssuerKeys(IssuerRow Issuer, IReadOnlyList<IssuerKeyRow> Keys);

/// <summary>A verifier account and its registered client certificates.</summary>
public sealed record VerifierCertificates(Account Verifier, IReadOnlyList<ClientCertificateRegistration> Certificates);
