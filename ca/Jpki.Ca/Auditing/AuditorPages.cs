using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Authentication;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages on the CA (<c>/audit</c>): server-rendered HTML, Japanese first with English
/// labels, no script. Login with the auditor's API token or password makes a short-lived session
/// (the same sessions as <c>POST /api/v1/sessions</c>) held in an HttpOnly, SameSite=Strict cookie;
/// POSTs must come from this origin. Every query goes through <see cref="AuditorReports"/>, so it
/// is checked and audited exactly as the API's.
/// </summary>
public sealed class AuditorPages(AuditorReports reports, SessionLogin logins)
{
    public const string Cookie = AuditSessionCookieHandler.Cookie;

    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/audit", (Func<HttpContext, Task<IResult>>)HomeAsync).AllowAnonymous();
        app.MapPost("/audit/login", (HttpContext context, AuditorPages pages) => pages.LoginAsync(context)).AllowAnonymous();
        app.MapPost("/audit/logout", (HttpContext context) => Logout(context)).AllowAnonymous();
        app.MapGet("/audit/revocations", (HttpContext context, AuditorPages pages) => pages.RevocationsAsync(context)).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/revocations.csv", (HttpContext context, AuditorPages pages) => pages.ExportAsync(context, "csv")).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/revocations.json", (HttpContext context, AuditorPages pages) => pages.ExportAsync(context, "json")).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/certificates/{serial}", (string serial, HttpContext context, AuditorPages pages) => pages.TrailAsync(serial, context)).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/charts", (HttpContext context, AuditorPages pages) => pages.ChartsAsync(context)).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/disclosure", (HttpContext context) => DisclosurePage(context)).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapPost("/audit/disclosure", (HttpContext context, AuditorPages pages) => pages.DisclosureAsync(context)).RequireAuthorization(AccessPolicy.AuditPages);
        app.MapGet("/audit/operators", (HttpContext context, AuditorPages pages) => pages.ActivityAsync(context)).RequireAuthorization(AccessPolicy.AuditPages);
    }

    private static async Task<IResult> HomeAsync(HttpContext context)
    {
        var session = await context.AuthenticateAsync(AuditSessionCookieHandler.SchemeName);
        if (session.Principal is not { } principal)
        {
            return LoginPage(null, 200);
        }

        if (!principal.IsInRole(AccountStore.RoleText(AccountRole.Auditor)))
        {
            // Another role's session sees the login page, nothing of the audit data.
            return LoginPage("監査人のみ auditors only", 200);
        }

        context.User = principal;

        var auditor = context.Caller();

        var causes = string.Concat(Enum.GetValues<RevocationCause>().Select(c => RevocationRules.WireName(c)).Select(c => $"<option value=\"{E(c)}\">{E(c)}</option>"));
        var body = new StringBuilder()
            .Append("<h2>失効検索 Search revocations</h2><form method=\"get\" action=\"/audit/revocations\" id=\"search\">")
            .Append(Input("シリアル番号 Serial", "serial")).Append(Input("市区町村コード Municipality code", "municipality", "6 digits"))
            .Append("<label>失効事由 Cause<br><select name=\"cause\" id=\"cause\"><option value=\"\">（すべて all）</option>").Append(causes).Append("</select></label>")
            .Append(Input("開始日 From (JST)", "from", "YYYY-MM-DD", type: "date")).Append(Input("終了日 To (JST)", "to", "YYYY-MM-DD", type: "date"))
            .Append("<button type=\"submit\" id=\"search-submit\">検索 Search</button></form>")
            .Append("<h2>グラフ Charts</h2><form method=\"get\" action=\"/audit/charts\" id=\"charts-form\">")
            .Append(Input("開始日 From (JST)", "from", type: "date", id: "chart-from")).Append(Input("終了日 To (JST)", "to", type: "date", id: "chart-to"))
            .Append("<button type=\"submit\" id=\"charts-submit\">表示 Show</button></form>")
            .Append("<h2>操作者別活動 Operator activity</h2><form method=\"get\" action=\"/audit/operators\" id=\"activity-form\">")
            .Append(Input("アカウント Account", "account", id: "activity-account")).Append(Input("開始日 From (JST)", "from", type: "date", id: "activity-from")).Append(Input("終了日 To (JST)", "to", type: "date", id: "activity-to"))
            .Append("<button type=\"submit\" id=\"activity-submit\">表示 Show</button></form>")
            .Append("<h2>開示請求 Disclosure</h2><p><a href=\"/audit/disclosure\" id=\"disclosure-link\">住民票コードによる閲覧記録の開示 Who read a resident's record</a></p>");
        return Page("監査 Audit", body.ToString(), auditor);
    }

    private async Task<IResult> LoginAsync(HttpContext context)
    {
        if (RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var token = form["token"].ToString().Trim();
        var account = form["account"].ToString().Trim();
        var password = form["password"].ToString();
        string? sessionToken = null;
        DateTimeOffset expiresAt = default;
        if (token.Length > 0)
        {
            (sessionToken, expiresAt) = await SessionFromTokenAsync(token, context.RequestAborted);
        }
        else if (account.Length is > 0 and <= 64 && password.Length is > 0 and <= 1024)
        {
            // Only auditors get a session here: the role is checked before the password is tried.
            await using (var db = await reports.Services.Database.OpenConnectionAsync(context.RequestAborted))
            {
                if (AccountStore.Find(db, account)?.Role != AccountRole.Auditor)
                {
                    return LoginPage("ログインできません login failed", 401);
                }
            }

            var (started, expires, problem) = await logins.StartAsync(account, password, context, context.RequestAborted);
            if (started is null)
            {
                return LoginPage(problem is IStatusCodeHttpResult { StatusCode: 429 } ? "ロック中です login locked; try later" : "ログインできません login failed", 401);
            }

            (sessionToken, expiresAt) = (started, expires);
        }

        if (sessionToken is null)
        {
            return LoginPage("ログインできません login failed", 401);
        }

        context.Response.Cookies.Append(Cookie, sessionToken, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/audit",
            Expires = expiresAt,
            Secure = context.Request.IsHttps,
        });
        return Results.Redirect("/audit");
    }

    private async Task<(string? Token, DateTimeOffset ExpiresAt)> SessionFromTokenAsync(string token, CancellationToken cancellationToken)
    {
        var services = reports.Services;
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        var account = AccountStore.FindByToken(tx.Connection, token, Instant.NowMicros(services.Options.Time));
        if (account is null || account.Disabled || account.Role != AccountRole.Auditor)
        {
            return (null, default);
        }

        var session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var expiresAt = services.Options.Time.GetUtcNow() + TimeSpan.FromMinutes(services.Settings.Accounts.SessionMinutes);
        AccountStore.InsertSession(tx, account.Id, AccountStore.TokenHash(session), Instant.ToMicros(expiresAt));
        services.Audit.Append(tx, new AuditRecord(account.Id, "session.created", account.Id, new JsonObject { ["expiresUs"] = Instant.ToMicros(expiresAt), ["via"] = "audit-pages-token" }));
        await tx.CommitAsync(cancellationToken);
        return (session, expiresAt);
    }

    private static IResult Logout(HttpContext context)
    {
        if (RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        context.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/audit" });
        return Results.Redirect("/audit");
    }

    private async Task<IResult> RevocationsAsync(HttpContext context)
    {
        var auditor = context.Caller();

        var (filter, problem) = AuditorReports.ParseFilter(context.Request.Query, export: false);
        if (filter is null)
        {
            return ErrorPage(auditor, problem!);
        }

        var (items, next) = await reports.SearchPageAsync(auditor, filter, context.RequestAborted);
        var exportQuery = QueryWithout(context.Request.Query, "after", "limit", "format");
        var body = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"<p>{items.Count} 件 rows. <a id=\"export-csv\" href=\"/audit/revocations.csv{E(exportQuery)}\">CSV</a> | <a id=\"export-json\" href=\"/audit/revocations.json{E(exportQuery)}\">JSON</a></p>")
            .Append("<table id=\"results\"><thead><tr><th>シリアル Serial</th><th>市区町村 Municipality</th><th>種別 Kind</th><th>失効日時 Revoked (JST)</th><th>理由 Reason</th><th>事由 Cause</th><th>起因 Source</th><th>初回CRL First CRL</th><th>初回OCSP First OCSP</th></tr></thead><tbody>");
        foreach (var item in items)
        {
            body.Append("<tr><td><a class=\"trail-link\" href=\"/audit/certificates/").Append(E(item.Serial)).Append("\">").Append(E(item.Serial)).Append("</a></td>")
                .Append(Td(item.MunicipalityCode)).Append(Td(item.Kind)).Append(Td(Jst(item.RevokedAt))).Append(Td(item.Reason)).Append(Td(item.Cause)).Append(Td(item.Source))
                .Append(Td(item.CrlNumber is { } n ? $"#{n} ({Jst(item.CrlThisUpdate)})" : "—")).Append(Td(item.OcspProducedAt is { } o ? Jst(o) : "—")).Append("</tr>");
        }

        body.Append("</tbody></table>");
        if (next is not null)
        {
            var nextQuery = QueryWithout(context.Request.Query, "after");
            body.Append("<p><a id=\"next-page\" href=\"/audit/revocations").Append(E(nextQuery + (nextQuery.Length == 0 ? "?" : "&") + "after=" + Uri.EscapeDataString(next))).Append("\">次へ Next page</a></p>");
        }

        return Page("失効一覧 Revocations", body.ToString(), auditor);
    }

    private async Task<IResult> ExportAsync(HttpContext context, string format)
    {
        var auditor = context.Caller();

        var (filter, problem) = AuditorReports.ParseFilter(context.Request.Query, export: true);
        if (filter is null)
        {
            return ErrorPage(auditor, problem!);
        }

        await reports.AuditQueryAsync(auditor, "revocations", AuditorReports.FilterDetails("revocations-export", filter, format), context.RequestAborted);
        return AuditorApi.Export(reports, filter, format);
    }

    private async Task<IResult> TrailAsync(string serial, HttpContext context)
    {
        var auditor = context.Caller();

        var (trail, problem) = await reports.TrailAsync(auditor, serial, context.RequestAborted);
        if (trail is null)
        {
            return ErrorPage(auditor, problem!);
        }

        var body = new StringBuilder();
        body.Append("<h2>証明書 Certificate</h2>").Append(Rows("certificate", [
            ("シリアル Serial", trail.Serial), ("種別 Kind", trail.Kind), ("発行者鍵 Issuer key", trail.IssuerKeyId), ("市区町村 Municipality", trail.MunicipalityCode),
            ("状態 Status", trail.Status), ("有効期間 Validity", $"{Jst(trail.NotBefore)} – {Jst(trail.NotAfter)}"), ("失効日時 Revoked at", Jst(trail.RevokedAt)),
            ("理由 Reason", trail.Reason), ("事由 Cause", trail.Cause), ("起因 Source", trail.Source), ("無効日 Invalidity date", trail.InvalidityDate), ("交付状態 Delivery", trail.DeliveryState),
        ]));
        var issuance = trail.Issuance;
        body.Append("<h2>発行 Issuance</h2>").Append(Rows("issuance", [
            ("日時 At", Jst(issuance.At)), ("操作者 By", issuance.By), ("市区町村 Municipality", issuance.MunicipalityCode), ("窓口 Window", issuance.WindowId),
            ("住基ネット連番 Juki-Net sequence", issuance.JukiSequence?.ToString(CultureInfo.InvariantCulture)), ("監査記録 Audit record", issuance.AuditSeq?.ToString(CultureInfo.InvariantCulture)),
        ]));
        body.Append("<h2>失効 Revocation</h2>");
        if (trail.Revocations.Count == 0)
        {
            body.Append("<p id=\"no-revocation\">失効していません not revoked</p>");
        }

        foreach (var step in trail.Revocations)
        {
            body.Append(Rows("revocation-step", [
                ("日時 At", Jst(step.At)), ("実行者 By", step.By), ("操作 Action", step.Action), ("事由 Cause", step.Cause), ("理由 Reason", step.Reason),
                ("前の理由 Previous reason", step.PreviousReason), ("起因 Source", step.Source), ("監査記録 Audit record", step.AuditSeq.ToString(CultureInfo.InvariantCulture)),
            ]));
            if (step.Event is { } ev)
            {
                body.Append("<h3>住基ネット異動等失効情報 Juki-Net event</h3>").Append(Rows("event", [
                    ("連番 Sequence", ev.Sequence.ToString(CultureInfo.InvariantCulture)), ("種類 Type", ev.Type), ("異動日 Effective", ev.EffectiveDate),
                    ("住民鍵 Resident key (HMAC)", ev.ResidentKey), ("HMAC鍵 Key id", ev.HmacKeyId), ("到着 Arrived", Jst(ev.ReceivedAt)), ("適用 Applied", Jst(ev.AppliedAt)), ("結果 Outcome", ev.Outcome),
                ]));
            }

            if (step.Request is { } request)
            {
                body.Append("<h3>失効申請 Request</h3>").Append(Rows("request", [
                    ("番号 Id", request.Id.ToString(CultureInfo.InvariantCulture)), ("申請者 Requested by", request.RequestedBy), ("日時 At", Jst(request.At)), ("事由 Cause", request.Cause), ("理由書 Statement", request.Statement),
                ]));
            }

            if (step.Compromise is { } compromise)
            {
                body.Append("<h3>発行者鍵危殆化 Issuer key compromise</h3>").Append(Rows("compromise", [
                    ("番号 Id", compromise.Id.ToString(CultureInfo.InvariantCulture)), ("申請者 Requested by", compromise.RequestedBy), ("申請日時 Requested at", Jst(compromise.RequestedAt)),
                    ("承認者 Approved by", compromise.ApprovedBy), ("承認日時 Approved at", Jst(compromise.ApprovedAt)), ("理由書 Statement", compromise.Statement),
                ]));
            }
        }

        body.Append("<h2>初回CRL掲載 First CRL listing</h2>").Append(trail.FirstCrl is { } crl
            ? Rows("first-crl", [("CRL番号 Number", crl.Number.ToString(CultureInfo.InvariantCulture)), ("thisUpdate", Jst(crl.ThisUpdate)), ("範囲 Scope", crl.Scope), ("発行者鍵 Issuer key", crl.IssuerKeyId), ("種類 Kind", crl.Kind), ("公開 Published", Jst(crl.PublishedAt)), ("SHA-256", crl.Sha256), ("実行者 By", crl.By)])
            : "<p id=\"first-crl\">未掲載 not yet listed</p>");
        body.Append("<h2>初回OCSP失効応答 First OCSP 'revoked'</h2>").Append(trail.FirstOcspRevoked is { } ocsp
            ? Rows("first-ocsp", [("producedAt", Jst(ocsp.ProducedAt)), ("設置 Installed", Jst(ocsp.InstalledAt)), ("実行者 By", ocsp.By)])
            : "<p id=\"first-ocsp\">未応答 none yet</p>");
        var l = trail.Latencies;
        body.Append("<h2>所要時間 Latencies (ms)</h2>").Append(Rows("latencies", [
            ("到着→適用 Event arrival → applied", Ms(l.EventArrivalToAppliedMs)), ("起因→失効 Cause → revocation", Ms(l.CauseToRevocationMs)),
            ("失効→CRL Revocation → CRL thisUpdate (backdated)", Ms(l.RevocationToCrlThisUpdateMs)), ("失効→CRL公開 Revocation → CRL published", Ms(l.RevocationToCrlPublishedMs)), ("失効→OCSP Revocation → OCSP producedAt", Ms(l.RevocationToOcspProducedAtMs)),
            ("起因→CRL Cause → CRL", Ms(l.CauseToCrlThisUpdateMs)), ("起因→OCSP Cause → OCSP", Ms(l.CauseToOcspProducedAtMs)),
        ]));
        return Page("失効証跡 Revocation trail", body.ToString(), auditor);
    }

    private async Task<IResult> ChartsAsync(HttpContext context)
    {
        var auditor = context.Caller();

        var (from, to, problem) = reports.ChartRange(QueryOnly(context.Request.Query, "from", "to"));
        if (problem is not null)
        {
            return ErrorPage(auditor, problem);
        }

        var perDay = await reports.RevocationsPerDayAsync(auditor, from, to, context.RequestAborted);
        var lag = await reports.FeedLagAsync(auditor, from, to, context.RequestAborted);
        var body = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"<p>{E(Instant.ToDateText(from))} – {E(Instant.ToDateText(to))} (JST)</p>")
            .Append("<h2>失効件数 Revocations per day</h2>").Append(SvgCharts.RevocationsPerDay(from, to, perDay))
            .Append("<h2>反映遅延 Feed lag</h2>").Append(SvgCharts.FeedLag(from, to, lag));
        return Page("グラフ Charts", body.ToString(), auditor);
    }

    private static HtmlResult DisclosurePage(HttpContext context) => Page("開示 Disclosure", DisclosureForm(null), context.Caller());

    private async Task<IResult> DisclosureAsync(HttpContext context)
    {
        if (RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        var auditor = context.Caller();

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var (answer, problem) = await reports.DisclosureAsync(auditor, form["residentCode"].ToString().Trim(), context.RequestAborted);
        if (answer is null)
        {
            return Page("開示 Disclosure", DisclosureForm(problem!.Detail), auditor, 400);
        }

        var body = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"<p id=\"disclosure-count\">{answer.Count} 件の閲覧 reads</p>")
            .Append("<table id=\"disclosure\"><thead><tr><th>日時 At (JST)</th><th>操作者 Operator</th><th>目的 Purpose</th><th>開示 Disclosed</th></tr></thead><tbody>");
        foreach (var read in answer.Reads)
        {
            body.Append("<tr>").Append(Td(Jst(read.At))).Append(Td(read.Account)).Append(Td(read.Purpose)).Append(Td(read.Disclosed)).Append("</tr>");
        }

        body.Append("</tbody></table>").Append(DisclosureForm(null));
        return Page("開示 Disclosure", body.ToString(), auditor);
    }

    private async Task<IResult> ActivityAsync(HttpContext context)
    {
        var auditor = context.Caller();

        var account = context.Request.Query["account"].ToString().Trim();
        var (from, to, problem) = reports.ChartRange(QueryOnly(context.Request.Query, "from", "to"));
        if (problem is not null)
        {
            return ErrorPage(auditor, problem);
        }

        var (answer, notFound) = await reports.ActivityAsync(auditor, account, from, to, context.RequestAborted);
        if (answer is null)
        {
            return ErrorPage(auditor, notFound!);
        }

        var body = new StringBuilder()
            .Append(Rows("activity-summary", [
                ("アカウント Account", answer.Account), ("役割 Role", answer.Role), ("期間 Range (JST)", $"{answer.From} – {answer.To}"),
                ("閲覧 Reads", answer.ReadCount.ToString(CultureInfo.InvariantCulture)), ("発行 Issuances", answer.IssuanceCount.ToString(CultureInfo.InvariantCulture)),
                ("失効 Revocations", answer.RevocationCount.ToString(CultureInfo.InvariantCulture)),
            ]))
            .Append("<h2>閲覧 Reads</h2><table id=\"activity-reads\"><thead><tr><th>日時 At (JST)</th><th>目的 Purpose</th><th>開示 Disclosed</th></tr></thead><tbody>");
        foreach (var read in answer.Reads)
        {
            body.Append("<tr>").Append(Td(Jst(read.At))).Append(Td(read.Purpose)).Append(Td(read.Disclosed)).Append("</tr>");
        }

        body.Append("</tbody></table><h2>操作 Acts</h2><table id=\"activity-acts\"><thead><tr><th>日時 At (JST)</th><th>操作 Action</th><th>シリアル Serial</th><th>詳細 Detail</th></tr></thead><tbody>");
        foreach (var act in answer.Acts)
        {
            body.Append("<tr>").Append(Td(Jst(act.At))).Append(Td(act.Action))
                .Append("<td><a href=\"/audit/certificates/").Append(E(act.Serial)).Append("\">").Append(E(act.Serial)).Append("</a></td>").Append(Td(act.Detail)).Append("</tr>");
        }

        body.Append("</tbody></table>");
        return Page("操作者別活動 Operator activity", body.ToString(), auditor);
    }

    /// <summary>The page another role gets: 403, nothing of the audit data.</summary>
    public static IResult Forbidden() => Page("禁止 Forbidden", "<p class=\"error\">監査人のみ auditors only</p>", null, 403);

    /// <summary>A POST from another origin is refused (the cookie is SameSite=Strict as well).</summary>
    private static HtmlResult? RefuseForeignPost(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString();
        var own = $"{context.Request.Scheme}://{context.Request.Host}";
        if (origin.Length > 0 && !string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
        {
            return Page("禁止 Forbidden", "<p class=\"error\">他のサイトからの送信は受け付けません cross-site request refused</p>", null, 403);
        }

        return context.Request.HasFormContentType ? null : Page("不正な要求 Bad request", "<p class=\"error\">form expected</p>", null, 400);
    }

    private static HtmlResult LoginPage(string? error, int status)
    {
        var body = new StringBuilder()
            .Append(error is null ? "" : $"<p class=\"error\" role=\"alert\" id=\"login-error\">{E(error)}</p>")
            .Append("<form method=\"post\" action=\"/audit/login\" id=\"login\">")
            .Append("<fieldset><legend>APIトークン API token (var/secrets/auditor.token)</legend>").Append(Input("トークン Token", "token", type: "password")).Append("</fieldset>")
            .Append("<fieldset><legend>またはパスワード or password</legend>").Append(Input("アカウント Account", "account")).Append(Input("パスワード Password", "password", type: "password")).Append("</fieldset>")
            .Append("<button type=\"submit\" id=\"login-submit\">ログイン Log in</button></form>");
        return Page("監査ログイン Auditor login", body.ToString(), null, status);
    }

    private static string DisclosureForm(string? error) =>
        (error is null ? "" : $"<p class=\"error\" role=\"alert\" id=\"disclosure-error\">{E(error)}</p>")
        + "<form method=\"post\" action=\"/audit/disclosure\" id=\"disclosure-form\" autocomplete=\"off\">"
        + Input("住民票コード Resident code (11 digits; hashed, never stored)", "residentCode", type: "password")
        + "<button type=\"submit\" id=\"disclosure-submit\">開示 Disclose</button></form>";

    private static HtmlResult ErrorPage(Account auditor, AuditorProblem problem) =>
        Page("エラー Error", $"<p class=\"error\" role=\"alert\" id=\"error\">{E(problem.Title)}: {E(problem.Detail)}</p><p><a href=\"/audit\">戻る Back</a></p>", auditor, problem.Status);

    private static HtmlResult Page(string title, string body, Account? auditor, int status = 200)
    {
        var html = new StringBuilder()
            .Append("<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append(" — JPKI 監査 Audit</title>")
            .Append("<style>body{font-family:sans-serif;max-width:70em;margin:1em auto}label{display:block;margin:.4em 0}.error{color:#a00;font-weight:bold}")
            .Append("table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.25em .5em;text-align:left;font-size:.9em}th{background:#eee}form{margin:.5em 0}fieldset{margin:.4em 0}</style></head><body>")
            .Append("<nav><a href=\"/audit\" id=\"home\">監査 Audit</a> | <a href=\"/audit/charts\" id=\"charts-link\">グラフ Charts</a> | <a href=\"/audit/disclosure\">開示 Disclosure</a>");
        if (auditor is not null)
        {
            html.Append(" | 監査人 Auditor: <span id=\"account\">").Append(E(auditor.Id)).Append("</span> <form method=\"post\" action=\"/audit/logout\" style=\"display:inline\"><button type=\"submit\" id=\"logout\">ログアウト Log out</button></form>");
        }

        html.Append("</nav><main><h1>").Append(E(title)).Append("</h1>").Append(body).Append("</main></body></html>");
        return new HtmlResult(html.ToString(), status);
    }

    private static string Rows(string id, IEnumerable<(string Label, string? Value)> rows) =>
        $"<table class=\"{E(id)}\"><tbody>" + string.Concat(rows.Select(r => $"<tr><th>{E(r.Label)}</th><td>{E(r.Value ?? "—")}</td></tr>")) + "</tbody></table>";

    private static string Input(string label, string name, string? hint = null, string type = "text", string? id = null) =>
        $"<label>{E(label)}{(hint is null ? "" : $" <small>({E(hint)})</small>")}<br><input type=\"{type}\" name=\"{name}\" id=\"{id ?? name}\"></label>";

    private static string Td(string? value) => $"<td>{E(value ?? "—")}</td>";

    private static string Jst(DateTimeOffset? instant) =>
        instant is { } i ? Core.Jst.ToJst(i).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) : "—";

    private static string Ms(double? value) => value?.ToString("0.###", CultureInfo.InvariantCulture) ?? "—";

    private static string E(string? value) => WebUtility.HtmlEncode(value ?? "");

    private static string QueryWithout(IQueryCollection query, params string[] names)
    {
        var kept = query.Where(p => !names.Contains(p.Key, StringComparer.Ordinal) && !string.IsNullOrEmpty(p.Value.ToString()))
            .Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value.ToString()));
        var text = string.Join("&", kept);
        return text.Length == 0 ? "" : "?" + text;
    }

    private static QueryCollection QueryOnly(IQueryCollection query, params string[] names) =>
        new(query.Where(p => names.Contains(p.Key, StringComparer.Ordinal) && !string.IsNullOrEmpty(p.Value.ToString()))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal));

    /// <summary>An HTML answer with the pages' headers: never cached or framed, no script at all.</summary>
    private sealed class HtmlResult(string html, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            var headers = httpContext.Response.Headers;
            headers.CacheControl = "no-cache, no-store";
            headers["X-Frame-Options"] = "DENY";
            headers["X-Content-Type-Options"] = "nosniff";
            headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
            // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our own form posts.
            headers["Referrer-Policy"] = "same-origin";
            return Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status).ExecuteAsync(httpContext);
        }
    }
}
