using System.Globalization;
using Jpki.Card;
using Jpki.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using static Jpki.Kiosk.Html;

namespace Jpki.Kiosk;

/// <summary>
/// The window's pages: login through the CA, enrolment (lookup → face-to-face check → PINs →
/// keys on the card → issuance → certificates on the card → delivery confirmed → receipt) and
/// revocation of a lost or unneeded card's certificates. Logs name the operator and serials,
/// never a resident code, name or address.
/// </summary>
public sealed class KioskPages(CaClient ca, CardReader cards, IAntiforgery antiforgery, KioskOptions options, TimeProvider time, ILogger<KioskPages> logger)
{
    public const string LanguageCookie = "kiosk-lang";
    public const string SessionCookie = "jpki-kiosk-session";
    private static readonly TimeSpan JstOffset = TimeSpan.FromHours(9);

    public static KioskText Text(HttpContext context) =>
        context.Request.Cookies.TryGetValue(LanguageCookie, out var lang) && lang == "en" ? KioskText.English : KioskText.Japanese;

    public static IResult SwitchLanguage(HttpContext context, string? to)
    {
        context.Response.Cookies.Append(LanguageCookie, to == "en" ? "en" : "ja", new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, IsEssential = true });
        return Results.Redirect("/");
    }

    public async Task<IResult> Home(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session is null)
        {
            return ToLogin(context);
        }

        var body = $"<ul><li><a href=\"/enrol\" id=\"enrol\">{E(text.Enrol)}</a></li><li><a href=\"/revoke\" id=\"revoke\">{E(text.Revoke)}</a></li><li><a href=\"/card\" id=\"card-check\">{E(text.CardCheck)}</a></li></ul>"
            + Form(antiforgery, context, "/logout", Button(text.Logout, "logout"));
        return Page(text, text.Menu, body, session.Account);
    }

    public IResult LoginPage(HttpContext context, string? message = null, int status = 200)
    {
        var text = Text(context);
        var body = Error(message) + Form(antiforgery, context, "/login",
            Input(text.Account, "account", extra: "autocomplete=\"username\" required")
            + Input(text.Password, "password", "password", extra: "autocomplete=\"current-password\" required")
            + Button(text.Login, "login"));
        return Page(text, text.Login, body, status: status);
    }

    public async Task<IResult> Login(HttpContext context)
    {
        var text = Text(context);
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var account = form["account"].ToString().Trim();
        var password = form["password"].ToString();
        var answer = await ca.LoginAsync(account, password, context.RequestAborted);
        if (!answer.Ok)
        {
            logger.LogInformation("Kiosk login refused for {Account}: {Problem}", account, answer.Problem);
            return LoginPage(context, answer.Status switch
            {
                0 => text.CaUnreachable,
                429 => text.LoginThrottled,
                _ => text.LoginFailed,
            }, answer.Status switch
            {
                0 => 503,
                429 => 429,
                _ => 401,
            });
        }

        // The kiosk is for municipal operators: the CA says whose session this is.
        var token = answer.Member("token")!;
        var me = await ca.MeAsync(token, context.RequestAborted);
        if (me.Member("role") != "operator")
        {
            logger.LogWarning("Kiosk login refused for {Account}: role {Role} is not operator", account, me.Member("role") ?? "unknown");
            context.Refuse("the kiosk admits operators only");
            return LoginPage(context, me.Ok ? text.OperatorsOnly : text.CaUnreachable, me.Ok ? 403 : 503);
        }

        // A fresh session for a fresh login: nothing of an earlier operator carries over.
        KioskSession.Clear(context);
        var expiresAt = DateTimeOffset.Parse(answer.Member("expiresAt")!, CultureInfo.InvariantCulture);
        var municipalities = me.Body.GetProperty("municipalityCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        new KioskSession(account, token, expiresAt, null, null, municipalities).Save(context);
        logger.LogInformation("Operator {Account} logged in at the kiosk", account);
        return Results.Redirect("/");
    }

    public async Task<IResult> LogoutAsync(HttpContext context)
    {
        if (await KioskSession.LoadAsync(context) is { } session)
        {
            await AbandonAsync(session, context.RequestAborted);
        }

        KioskSession.Clear(context);
        context.Response.Cookies.Delete(SessionCookie);
        return Results.Redirect("/login");
    }

    public async Task<IResult> EnrolPage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? ToLogin(context) : LookupForm(context, session, null);
    }

    public async Task<IResult> Lookup(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session is null)
        {
            return ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var code = form["residentCode"].ToString().Trim();
        if (code.Length != 11 || !code.All(char.IsAsciiDigit))
        {
            return LookupForm(context, session, text.ResidentCodeInvalid, 400);
        }

        // A new lookup gives up the enrolment in progress: what it got issued is revoked now.
        var abandoned = await AbandonAsync(session, context.RequestAborted);
        if (session.Enrolment is not null)
        {
            session = session with { Enrolment = null };
            session.Save(context);
        }

        var answer = await ca.LookupAsync(session.Token, code, context.RequestAborted);
        if (answer.Status == 401)
        {
            return Expired(context);
        }

        if (!answer.Ok)
        {
            return LookupForm(context, session, Explain(text, answer, text.ResidentCodeInvalid), answer.Status == 0 ? 503 : answer.Status);
        }

        var facts = new ResidentFacts(
            answer.Member("name") ?? "",
            answer.Member("dateOfBirth") ?? "",
            answer.Body.GetProperty("sex").GetInt32(),
            answer.Member("address") ?? "",
            answer.Member("municipalityName") ?? answer.Member("municipalityCode") ?? "",
            answer.Member("municipalityCode"));
        var under15 = AgeInJst(facts.DateOfBirth, time.GetUtcNow()) < 15;
        var enrolment = new Enrolment(code, facts, answer.Body.GetProperty("sequence").GetInt64(), under15);
        (session with { Enrolment = enrolment, Receipt = null }).Save(context);
        return ConfirmForm(context, session.Account, enrolment, null, note: abandoned.Length > 0 ? $"{text.AbandonedRevoked}: {abandoned}" : null);
    }

    public async Task<IResult> Confirm(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session?.Enrolment is not { } enrolment)
        {
            return session is null ? ToLogin(context) : Results.Redirect("/enrol");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (form["checked"] != "yes")
        {
            return ConfirmForm(context, session.Account, enrolment, text.MustConfirm, 400);
        }

        var reason = form["overrideReason"].ToString().Trim();
        // An existing card (renewal, PIN reset after a lock, re-issue): its certificates now are
        // the ones the new ones replace. A good, unexpired one is renewed: the issuance names it
        // (renews) and the CA supersedes it in the same transaction, counting the 6th birthday in
        // its last 3 months. Any other still good one is revoked as superseded once the new ones
        // are on the card (its key is gone with the re-personalisation).
        var chosenCard = form["card"].ToString();
        string? cardLabel = null;
        IReadOnlyList<string>? replaced = null;
        string? renewsAuthentication = null;
        string? renewsSigning = null;
        if (chosenCard.Length > 0)
        {
            if (!cards.Store.Exists(chosenCard) || !cards.IsVisible(chosenCard))
            {
                return ConfirmForm(context, session.Account, enrolment, text.UnknownCard, 400);
            }

            // An expired card can carry no certificate: refused before anything is sent or changed.
            if (cards.Store.Load(chosenCard).Expires is { } expires && expires < CardExpiry.JstDate(time.GetUtcNow()))
            {
                return ConfirmForm(context, session.Account, enrolment, text.CardExpired, 400);
            }

            cardLabel = chosenCard;
            var onCard = cards.Certificates(chosenCard);
            replaced = onCard.Select(c => c.Serial).ToList();
            foreach (var old in onCard)
            {
                var status = await ca.CertificateStatusAsync(session.Token, old.Serial, context.RequestAborted);
                if (status.Status == 401)
                {
                    return Expired(context);
                }

                if (status.Unreachable || status.Status >= 500)
                {
                    return ConfirmForm(context, session.Account, enrolment, Explain(text, status, text.IssuanceFailed), 503);
                }

                if (status.Ok && status.Member("status") == "good" && old.NotAfter > time.GetUtcNow())
                {
                    if (old.Application == CardApplication.Signing)
                    {
                        renewsSigning = old.Serial;
                    }
                    else
                    {
                        renewsAuthentication = old.Serial;
                    }
                }
            }
        }

        enrolment = enrolment with
        {
            CardLabel = cardLabel,
            ReplacedSerials = replaced,
            RenewsAuthentication = renewsAuthentication,
            RenewsSigning = renewsSigning,
            Confirmed = true,
            WithSigning = !enrolment.Under15 || reason.Length > 0,
            OverrideReason = enrolment.Under15 && reason.Length > 0 ? reason : null,
            AuthenticationIdempotencyKey = Guid.NewGuid().ToString(),
            SigningIdempotencyKey = Guid.NewGuid().ToString(),
        };
        (session with { Enrolment = enrolment }).Save(context);
        return PinForm(context, session.Account, enrolment, []);
    }

    public async Task<IResult> Issue(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session?.Enrolment is not { Confirmed: true } enrolment)
        {
            return session is null ? ToLogin(context) : Results.Redirect("/enrol");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var signingPin = form["signingPin"].ToString();
        var authenticationPin = form["authenticationPin"].ToString();
        var problems = new List<string>();
        if (enrolment.WithSigning)
        {
            problems.Add(text.Describe(PinRules.Check(CardApplication.Signing, signingPin)));
            problems.Add(signingPin == form["signingPin2"].ToString() ? "" : text.PinsDiffer);
        }

        problems.Add(text.Describe(PinRules.Check(CardApplication.Authentication, authenticationPin)));
        problems.Add(authenticationPin == form["authenticationPin2"].ToString() ? "" : text.PinsDiffer);
        problems.RemoveAll(p => p.Length == 0);
        if (problems.Count > 0)
        {
            return PinForm(context, session.Account, enrolment, problems.Distinct().ToList(), 400);
        }

        // The card: a blank one from the kiosk's stock, keys made on it and requests signed there.
        // The requests are kept so that a retry sends the same body under the same Idempotency-Key.
        if (enrolment.CardLabel is null)
        {
            enrolment = enrolment with { CardLabel = cards.CreateBlank() };
            (session with { Enrolment = enrolment }).Save(context);
        }

        var label = enrolment.CardLabel;
        // The card gets its expiry now, from the date of birth the lookup showed (a card that
        // already has one keeps it), and both issuances send it, so no certificate outlives the card.
        if (enrolment.AuthenticationCsr is null)
        {
            CardRequests requests;
            try
            {
                requests = cards.Personalise(label, enrolment.WithSigning ? signingPin : null, authenticationPin, CardExpiryFor(enrolment.Facts.DateOfBirth, time.GetUtcNow()), enrolment.Facts.MunicipalityCode);
            }
            catch (CardExpiredException)
            {
                (session with { Enrolment = null }).Save(context);
                return Page(text, text.CardExpired, Error(text.CardExpired) + $"<p><a href=\"/enrol\">{E(text.Enrol)}</a></p>", session.Account, 400);
            }

            enrolment = enrolment with
            {
                AuthenticationCsr = requests.AuthenticationCsrPem,
                SigningCsr = requests.SigningCsrPem,
                CardExpiry = requests.Expires?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            };
            (session with { Enrolment = enrolment }).Save(context);
        }

        // Authentication first: the signing certificate's notAfter is capped by the holder's newest authentication certificate.
        var issued = new List<(CardApplication Application, CaAnswer Answer)>();
        var kinds = new List<(CardApplication Application, string Kind, string Csr, string Key, IssueOverride? Override, string? Renews)>
        {
            (CardApplication.Authentication, "authentication", enrolment.AuthenticationCsr!, enrolment.AuthenticationIdempotencyKey!, null, enrolment.RenewsAuthentication),
        };
        if (enrolment.WithSigning)
        {
            kinds.Add((CardApplication.Signing, "signing", enrolment.SigningCsr!, enrolment.SigningIdempotencyKey!,
                enrolment.OverrideReason is { } reason ? new IssueOverride(reason) : null, enrolment.RenewsSigning));
        }

        foreach (var (application, kind, csr, key, overrideReason, renews) in kinds)
        {
            var answer = await ca.IssueAsync(
                session.Token,
                new IssueRequest(enrolment.ResidentCode, kind, csr, options.WindowId, enrolment.Sequence, overrideReason, renews, enrolment.CardExpiry),
                key,
                context.RequestAborted);
            if (!answer.Ok)
            {
                return await IssuanceFailed(context, session, enrolment, issued, answer);
            }

            logger.LogInformation("Operator {Account} issued {Kind} certificate {Serial} onto card {Card}", session.Account, kind, answer.Member("serial"), label);
            issued.Add((application, answer));
            enrolment = enrolment with { IssuedSerials = (enrolment.IssuedSerials ?? []).Append(answer.Member("serial")!).Distinct(StringComparer.OrdinalIgnoreCase).ToList() };
            (session with { Enrolment = enrolment }).Save(context);
        }

        try
        {
            foreach (var (application, answer) in issued)
            {
                cards.WriteCertificate(label, application, application == CardApplication.Signing ? signingPin : authenticationPin, PemToDer(answer.Member("certificatePem")!));
            }
        }
        catch (CardException e)
        {
            logger.LogWarning("Writing certificates to card {Card} failed: {Error}", label, e.Message);
            var revoked = await RevokeUndelivered(session, enrolment, issued, context.RequestAborted);
            await RevokeReplacedIfGone(session, enrolment, context.RequestAborted);
            (session with { Enrolment = null }).Save(context);
            return Page(text, text.CardFailed, Error(text.CardFailed + ": " + e.Message) + $"<p>{E(text.RevokedUndelivered)}: {E(revoked)}</p>", session.Account, 500);
        }

        var delivered = true;
        foreach (var (_, answer) in issued)
        {
            var confirmation = await ca.ConfirmDeliveryAsync(session.Token, answer.Member("serial")!, context.RequestAborted);
            delivered &= confirmation.Ok;
        }

        var newSerials = issued.Select(i => i.Answer.Member("serial")!).ToHashSet(StringComparer.OrdinalIgnoreCase);
        // Renewed certificates were superseded by the CA when their successors were recorded.
        var renewed = issued.Select(i => i.Answer.Member("renewed")).OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
        var replacedRevoked = new List<string>(renewed);
        foreach (var old in enrolment.ReplacedSerials ?? [])
        {
            if (newSerials.Contains(old) || renewed.Contains(old))
            {
                continue;
            }

            var revocation = await ca.RevokeAsync(session.Token, old, "renewal", enrolment.ResidentCode, context.RequestAborted);
            logger.LogInformation("Operator {Account} replaced certificate {Serial} on card {Card}: {Status}", session.Account, old, label, revocation.Status);
            if (revocation.Ok)
            {
                replacedRevoked.Add(old);
            }
        }

        var receipt = new Receipt(
            Mask(enrolment.ResidentCode),
            label,
            time.GetUtcNow(),
            issued.Select(i => new ReceiptLine(
                i.Application == CardApplication.Signing ? "signing" : "authentication",
                i.Answer.Member("serial")!,
                DateTimeOffset.Parse(i.Answer.Member("notAfter")!, CultureInfo.InvariantCulture))).ToList(),
            delivered,
            replacedRevoked,
            enrolment.CardExpiry);
        (session with { Enrolment = null, Receipt = receipt }).Save(context);
        return Results.Redirect("/enrol/receipt");
    }

    public async Task<IResult> ReceiptPage(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session?.Receipt is not { } receipt)
        {
            return session is null ? ToLogin(context) : Results.Redirect("/");
        }

        var rows = string.Concat(receipt.Certificates.Select(c =>
            $"<tr class=\"certificate\"><td>{E(c.Kind == "signing" ? text.SigningCertificate : text.AuthenticationCertificate)}</td><td class=\"serial\">{E(c.Serial)}</td><td>{E(Jst(c.NotAfter))}</td></tr>"));
        var body = $"<table><tr><th>{E(text.ResidentCode)}</th><td id=\"masked-code\">{E(receipt.MaskedResidentCode)}</td></tr>"
            + $"<tr><th>{E(text.Card)}</th><td id=\"card\">{E(receipt.CardLabel)}</td></tr>"
            + (receipt.CardExpiry is { } cardExpiry ? $"<tr><th>{E(text.CardExpires)}</th><td id=\"card-expires\">{E(cardExpiry)}</td></tr>" : "")
            + $"<tr><th>{E(text.IssuedAt)}</th><td>{E(Jst(receipt.IssuedAt))}</td></tr></table>"
            + $"<h2>{E(text.Kind)}</h2><table><tr><th>{E(text.Kind)}</th><th>{E(text.Serial)}</th><th>{E(text.Expiry)}</th></tr>{rows}</table>"
            + (receipt.Delivered ? $"<p id=\"delivered\">{E(text.Delivered)}</p>" : Error(text.SweeperWillRevoke))
            + (receipt.ReplacedSerials is { Count: > 0 } old ? $"<p id=\"replaced\">{E(text.OldRevoked)}: {E(string.Join(", ", old))}</p>" : "")
            + $"<form class=\"noprint\"><button type=\"button\" onclick=\"window.print()\">{E(text.Print)}</button></form>";
        return Page(text, text.Receipt, body, session.Account);
    }

    public async Task<IResult> RevokePage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? ToLogin(context) : RevokeForm(context, session.Account, null);
    }

    public async Task<IResult> Revoke(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session is null)
        {
            return ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var code = form["residentCode"].ToString().Trim();
        var cause = form["cause"] == "noLongerNeeded" ? "noLongerNeeded" : "cardLost";
        if (code.Length != 11 || !code.All(char.IsAsciiDigit))
        {
            return RevokeForm(context, session.Account, text.ResidentCodeInvalid, 400);
        }

        var serials = new[] { form["serial1"].ToString().Trim(), form["serial2"].ToString().Trim() }.Where(s => s.Length > 0).ToList();
        if (form["card"].ToString() is { Length: > 0 } label && cards.Store.Exists(label))
        {
            serials.AddRange(cards.Certificates(label).Select(c => c.Serial));
        }

        // Neither card nor receipt: the CA lists the resident's certificates by the code (in the
        // body, hashed there; the read is logged with its purpose) and every good one is revoked.
        var found = "";
        if (serials.Count == 0)
        {
            var listed = await ca.ListCertificatesAsync(session.Token, code, cause == "cardLost" ? "revocation: card lost" : "revocation: no longer needed", context.RequestAborted);
            if (listed.Status == 401)
            {
                return Expired(context);
            }

            if (!listed.Ok)
            {
                return RevokeForm(context, session.Account, Explain(text, listed, text.Refused), listed.Status == 0 ? 503 : listed.Status);
            }

            var good = listed.Body.GetProperty("certificates").EnumerateArray()
                .Where(c => c.GetProperty("status").GetString() == "good")
                .Select(c => c.GetProperty("serial").GetString()!)
                .ToList();
            logger.LogInformation("Operator {Account} listed a resident's certificates to revoke ({Cause}): {Count} good", session.Account, cause, good.Count);
            if (good.Count == 0)
            {
                return RevokeForm(context, session.Account, text.NoCertificatesFound, 404);
            }

            serials.AddRange(good);
            found = $"<p id=\"found-by-code\">{E(text.FoundByResidentCode)}: {good.Count}</p>";
        }

        serials = serials.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (serials.Count == 0)
        {
            return RevokeForm(context, session.Account, text.NothingToRevoke, 400);
        }

        var lines = new List<string>();
        foreach (var serial in serials)
        {
            var answer = await ca.RevokeAsync(session.Token, serial, cause, code, context.RequestAborted);
            if (answer.Status == 401)
            {
                return Expired(context);
            }

            var outcome = answer.Ok
                ? answer.Member("outcome") == "alreadyRevoked" ? text.AlreadyRevoked : text.RevokeDone
                : Explain(text, answer, text.Refused);
            logger.LogInformation("Operator {Account} asked to revoke {Serial} ({Cause}): {Status}", session.Account, serial, cause, answer.Status);
            lines.Add($"<li class=\"{(answer.Ok ? "revoked" : "refused")}\"><span class=\"serial\">{E(serial)}</span>: {E(outcome)}</li>");
        }

        return Page(text, text.Revoke, found + $"<ul id=\"revocations\">{string.Concat(lines)}</ul><p><a href=\"/\">{E(text.Menu)}</a></p>", session.Account);
    }

    public async Task<IResult> CardCheckPage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? ToLogin(context) : CardCheckForm(context, session, null, null);
    }

    /// <summary>The resident tries a PIN on the card: right, wrong (tries left) or locked, each a clear sentence.</summary>
    public async Task<IResult> CardCheck(HttpContext context)
    {
        var text = Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session is null)
        {
            return ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var label = form["card"].ToString();
        var application = form["application"] == "signing" ? CardApplication.Signing : CardApplication.Authentication;
        if (!cards.Store.Exists(label) || !cards.IsVisible(label))
        {
            return CardCheckForm(context, session, text.UnknownCard, null, 400);
        }

        // A PIN tried counts against the card: only an operator of the holder's municipality may.
        if (!session.IsBoundTo(cards.Describe(label).MunicipalityCode))
        {
            logger.LogWarning("Operator {Account} refused a PIN check on card {Card} of another municipality", session.Account, label);
            context.Refuse("the card belongs to a municipality the operator is not bound to");
            return CardCheckForm(context, session, text.CardNotYours, null, 403);
        }

        try
        {
            cards.VerifyPin(label, application, form["pin"].ToString());
            return CardCheckForm(context, session, null, text.PinOk);
        }
        catch (CardPinFormatException e)
        {
            return CardCheckForm(context, session, text.Describe(e.Problem), null, 400);
        }
        catch (CardWrongPinException e)
        {
            return CardCheckForm(context, session, string.Format(CultureInfo.InvariantCulture, text.WrongPin, e.TriesLeft), null, 403);
        }
        catch (CardLockedException)
        {
            return CardCheckForm(context, session, text.CardLocked, null, 423);
        }
    }

    private IResult CardCheckForm(HttpContext context, KioskSession session, string? error, string? success, int status = 200)
    {
        var text = Text(context);
        var account = session.Account;
        var options = string.Concat(cards.List().Where(c => session.IsBoundTo(c.MunicipalityCode)).Select(c => $"<option value=\"{E(c.Label)}\">{E(c.Label)} ({E(c.State)})</option>"));
        var body = Error(error) + (success is null ? "" : $"<p id=\"pin-ok\">{E(success)}</p>") + Form(antiforgery, context, "/card",
            $"<label>{E(text.Card)}<br><select name=\"card\" id=\"card\">{options}</select></label>"
            + $"<label>{E(text.Application)}<br><select name=\"application\" id=\"application\"><option value=\"signing\">{E(text.SigningCertificate)}</option><option value=\"authentication\">{E(text.AuthenticationCertificate)}</option></select></label>"
            + Input(text.Pin, "pin", "password", extra: "autocomplete=\"off\" maxlength=\"16\"")
            + Button(text.Check, "check"))
            + $"<p><a href=\"/\">{E(text.Menu)}</a></p>";
        return Page(text, text.CardCheck, body, account, status);
    }

    private async Task<IResult> IssuanceFailed(HttpContext context, KioskSession session, Enrolment enrolment, List<(CardApplication Application, CaAnswer Answer)> issued, CaAnswer failure)
    {
        var text = Text(context);
        if (failure.Status == 401)
        {
            return Expired(context);
        }

        logger.LogWarning("Issuance refused for operator {Account}: {Status} {Problem}", session.Account, failure.Status, failure.Problem);
        // The CA may not have answered (unreachable, 5xx): keep the enrolment, with its keys,
        // requests and Idempotency-Keys, so a retry gets the same certificates back.
        if (failure.Unreachable || failure.Status >= 500)
        {
            // Part of the enrolment may already be issued (authentication before signing): the page
            // names it, since nothing is on the card yet and the CA's sweeper revokes it if the
            // retry never comes; the retry gets the same certificate back under its Idempotency-Key.
            var problem = Explain(text, failure, text.IssuanceFailed);
            if (issued.Count > 0)
            {
                var serials = string.Join(", ", issued.Select(i => i.Answer.Member("serial")));
                logger.LogWarning("CA lost by operator {Account} after issuing {Serials}; nothing written to card {Card}", session.Account, serials, enrolment.CardLabel);
                problem = text.CaDownAfterIssuance + ": " + serials;
            }

            return PinForm(context, session.Account, enrolment, [problem], 503);
        }

        // Refused for good: nothing issued for this enrolment may stay undelivered.
        var revoked = await RevokeUndelivered(session, enrolment, issued, context.RequestAborted);
        await RevokeReplacedIfGone(session, enrolment, context.RequestAborted);
        (session with { Enrolment = null }).Save(context);
        var message = failure.Problem == "resident-changed" ? text.ResidentChanged : Explain(text, failure, text.IssuanceFailed);
        var body = Error(message) + (revoked.Length > 0 ? $"<p>{E(text.RevokedUndelivered)}: {E(revoked)}</p>" : "")
            + $"<p><a href=\"/enrol\">{E(text.Enrol)}</a></p>";
        return Page(text, text.IssuanceFailed, body, session.Account, failure.Status == 409 ? 409 : 422);
    }

    /// <summary>
    /// A reused card whose old keys were already destroyed by the new personalisation can never
    /// use its old certificates again: they are superseded (renewal) even when the new ones
    /// were refused, so no good certificate is left without its key.
    /// </summary>
    private async Task RevokeReplacedIfGone(KioskSession session, Enrolment enrolment, CancellationToken cancellation)
    {
        if (enrolment.AuthenticationCsr is null)
        {
            return;
        }

        foreach (var serial in enrolment.ReplacedSerials ?? [])
        {
            var revocation = await ca.RevokeAsync(session.Token, serial, "renewal", enrolment.ResidentCode, cancellation);
            logger.LogWarning("Certificate {Serial} of a re-personalised card revoked: {Status}", serial, revocation.Status);
        }
    }

    /// <summary>
    /// Gives up the enrolment in progress (another lookup, logout): what the CA issued for it never
    /// reached the card and is revoked as destroyed before delivery, and a re-personalised card's
    /// old certificates (their keys are gone) are superseded. A CA still unreachable leaves the
    /// issued ones to its sweeper. Returns the serials revoked as undelivered.
    /// </summary>
    private async Task<string> AbandonAsync(KioskSession session, CancellationToken cancellation)
    {
        if (session.Enrolment is not { } enrolment)
        {
            return "";
        }

        var revoked = new List<string>();
        foreach (var serial in enrolment.IssuedSerials ?? [])
        {
            var revocation = await ca.RevokeAsync(session.Token, serial, "destroyedBeforeDelivery", enrolment.ResidentCode, cancellation);
            logger.LogWarning("Operator {Account} gave up an enrolment: undelivered certificate {Serial} revocation: {Status}", session.Account, serial, revocation.Status);
            if (revocation.Ok)
            {
                revoked.Add(serial);
            }
        }

        await RevokeReplacedIfGone(session, enrolment, cancellation);
        return string.Join(", ", revoked);
    }

    /// <summary>Revokes (destroyedBeforeDelivery) what was issued but never reached the card; the CA's sweeper is the backstop.</summary>
    private async Task<string> RevokeUndelivered(KioskSession session, Enrolment enrolment, List<(CardApplication Application, CaAnswer Answer)> issued, CancellationToken cancellation)
    {
        var serials = new List<string>();
        foreach (var (_, answer) in issued)
        {
            var serial = answer.Member("serial")!;
            var revocation = await ca.RevokeAsync(session.Token, serial, "destroyedBeforeDelivery", enrolment.ResidentCode, cancellation);
            logger.LogWarning("Undelivered certificate {Serial} revocation: {Status}", serial, revocation.Status);
            serials.Add(serial);
        }

        return string.Join(", ", serials);
    }

    private IResult LookupForm(HttpContext context, KioskSession session, string? message, int status = 200)
    {
        var text = Text(context);
        var body = Error(message) + Form(antiforgery, context, "/enrol/lookup",
            Input(text.ResidentCode, "residentCode", extra: "inputmode=\"numeric\" autocomplete=\"off\" maxlength=\"11\" required") + Button(text.LookUp, "lookup"));
        return Page(text, text.Enrol, body, session.Account, status);
    }

    private IResult ConfirmForm(HttpContext context, string account, Enrolment enrolment, string? message, int status = 200, string? note = null)
    {
        var text = Text(context);
        var f = enrolment.Facts;
        var sex = f.Sex is >= 1 and <= 3 ? text.SexNames[f.Sex] : f.Sex.ToString(CultureInfo.InvariantCulture);
        var facts = $"<h2>{E(text.Facts)}</h2><table id=\"facts\">"
            + $"<tr><th>{E(text.Name)}</th><td id=\"name\">{E(f.Name)}</td></tr>"
            + $"<tr><th>{E(text.DateOfBirth)}</th><td id=\"date-of-birth\">{E(FormatBirthDate(text, f.DateOfBirth))}</td></tr>"
            + $"<tr><th>{E(text.Sex)}</th><td>{E(sex)}</td></tr>"
            + $"<tr><th>{E(text.Address)}</th><td>{E(f.Address)}</td></tr>"
            + $"<tr><th>{E(text.Municipality)}</th><td>{E(f.Municipality)}</td></tr></table>";
        var under15 = enrolment.Under15 ? $"<p class=\"note\" id=\"under15\">{E(text.Under15)}</p>" + Input(text.OverrideReason, "overrideReason") : "";
        var cardOptions = string.Concat(cards.List().Select(c => $"<option value=\"{E(c.Label)}\">{E(c.Label)} ({E(c.State)})</option>"));
        under15 += $"<label>{E(text.CardForEnrolment)}<br><select name=\"card\" id=\"card\"><option value=\"\">{E(text.NewCard)}</option>{cardOptions}</select></label>";
        var body = Error(message) + (note is null ? "" : $"<p class=\"note\" id=\"abandoned\">{E(note)}</p>") + facts + Form(antiforgery, context, "/enrol/confirm",
            $"<label><input type=\"checkbox\" name=\"checked\" id=\"checked\" value=\"yes\"> {E(text.FaceToFaceChecked)}</label>" + under15 + Button(text.Confirm, "confirm"))
            + $"<p><a href=\"/\">{E(text.Cancel)}</a></p>";
        return Page(text, text.Enrol, body, account, status);
    }

    private IResult PinForm(HttpContext context, string account, Enrolment enrolment, IReadOnlyList<string> problems, int status = 200)
    {
        var text = Text(context);
        var signing = enrolment.WithSigning
            ? Input(text.SigningPin, "signingPin", "password", hint: text.SigningPinRule, extra: "autocomplete=\"off\" maxlength=\"16\"")
              + Input(text.SigningPin + " — " + text.Again, "signingPin2", "password", extra: "autocomplete=\"off\" maxlength=\"16\"")
            : "";
        var body = string.Concat(problems.Select(Error)) + Form(antiforgery, context, "/enrol/issue",
            signing
            + Input(text.AuthenticationPin, "authenticationPin", "password", hint: text.AuthenticationPinRule, extra: "autocomplete=\"off\" inputmode=\"numeric\" maxlength=\"4\"")
            + Input(text.AuthenticationPin + " — " + text.Again, "authenticationPin2", "password", extra: "autocomplete=\"off\" inputmode=\"numeric\" maxlength=\"4\"")
            + Button(text.Issue, "issue"));
        return Page(text, text.SetPins, body, account, status);
    }

    private IResult RevokeForm(HttpContext context, string account, string? message, int status = 200)
    {
        var text = Text(context);
        var options = string.Concat(cards.List().Select(c => $"<option value=\"{E(c.Label)}\">{E(c.Label)}</option>"));
        var body = Error(message) + Form(antiforgery, context, "/revoke",
            Input(text.ResidentCode, "residentCode", extra: "inputmode=\"numeric\" autocomplete=\"off\" maxlength=\"11\" required")
            + $"<label>{E(text.Cause)}<br><select name=\"cause\" id=\"cause\"><option value=\"cardLost\">{E(text.CardLost)}</option><option value=\"noLongerNeeded\">{E(text.NoLongerNeeded)}</option></select></label>"
            + $"<p>{E(text.SerialsOrCard)}</p>"
            + Input(text.Serial + " 1", "serial1") + Input(text.Serial + " 2", "serial2")
            + $"<label>{E(text.Card)}<br><select name=\"card\" id=\"card\"><option value=\"\">{E(text.NoCard)}</option>{options}</select></label>"
            + Button(text.Revoke, "revoke"));
        return Page(text, text.Revoke, body, account, status);
    }

    private static string Explain(KioskText text, CaAnswer answer, string fallback) => answer.Problem switch
    {
        "ca-unreachable" => text.CaUnreachable,
        "unknown-resident" => text.UnknownResident,
        "resident-not-eligible" => text.NotEligible,
        "jukinet-unavailable" or "jukinet-protocol" => text.JukiNetDown,
        "municipality-not-bound" or "forbidden" => text.NotBound,
        "not-the-holder" => text.NotTheHolder,
        "already-revoked" => text.AlreadyRevoked,
        "certificate-not-found" or "not-found" => text.CertificateNotFound,
        "resident-changed" => text.ResidentChanged,
        "renewal-revoked" or "renewal-expired" or "renewal-not-found" or "renewal-not-the-holder" or "renewal-kind-mismatch" => text.RenewalRefused,
        "account-locked" or "login-throttled" => text.LoginThrottled,
        null => fallback + $" (HTTP {answer.Status})",
        _ => fallback + $" ({answer.Problem})",
    };

    private IResult ToLogin(HttpContext context) =>
        context.Request.Cookies.ContainsKey(SessionCookie) ? Expired(context) : Results.Redirect("/login");

    /// <summary>The login page after a session ended (idle timeout, CA session over): 401, the session cookie removed.</summary>
    public IResult Expired(HttpContext context)
    {
        KioskSession.Clear(context);
        context.Response.Cookies.Delete(SessionCookie);
        return LoginPage(context, Text(context).SessionExpired, 401);
    }

    /// <summary>The receipt shows only the last 4 digits of the resident code.</summary>
    public static string Mask(string residentCode) =>
        new string('*', Math.Max(0, residentCode.Length - 4)) + residentCode[Math.Max(0, residentCode.Length - 4)..];

    /// <summary>
    /// Age in JST from JPKI's EYYYYMMDD, counting from the latest possible birthday when the month
    /// or day is unknown (00), as the CA does: a resident who might be under 15 is treated as under 15.
    /// </summary>
    public static int AgeInJst(string dateOfBirth, DateTimeOffset now)
    {
        if (dateOfBirth.Length != 9 || !int.TryParse(dateOfBirth.AsSpan(1, 4), CultureInfo.InvariantCulture, out var year)
            || !int.TryParse(dateOfBirth.AsSpan(5, 2), CultureInfo.InvariantCulture, out var month)
            || !int.TryParse(dateOfBirth.AsSpan(7, 2), CultureInfo.InvariantCulture, out var day))
        {
            return 0;
        }

        month = month == 0 ? 12 : month;
        day = day == 0 ? DateTime.DaysInMonth(year, month) : day;
        var today = DateOnly.FromDateTime(now.ToOffset(JstOffset).DateTime);
        var age = today.Year - year;
        if (today.Month < month || (today.Month == month && today.Day < day))
        {
            age--;
        }

        return age;
    }

    /// <summary>
    /// The expiry of a card personalised at <paramref name="now"/> for a holder born on
    /// <paramref name="dateOfBirth"/> (JPKI's EYYYYMMDD), JST: see <see cref="CardExpiry.For"/>.
    /// Null when the date cannot be read (the CA then caps by the birthday rules alone).
    /// </summary>
    public static DateOnly? CardExpiryFor(string dateOfBirth, DateTimeOffset now)
    {
        if (dateOfBirth is not { Length: 9 } || !dateOfBirth.All(char.IsAsciiDigit))
        {
            return null;
        }

        var year = int.Parse(dateOfBirth.AsSpan(1, 4), CultureInfo.InvariantCulture);
        var month = int.Parse(dateOfBirth.AsSpan(5, 2), CultureInfo.InvariantCulture);
        var day = int.Parse(dateOfBirth.AsSpan(7, 2), CultureInfo.InvariantCulture);
        try
        {
            return CardExpiry.For(year, month, day, CardExpiry.JstDate(now));
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>EYYYYMMDD as YYYY-MM-DD (era); an unknown month or day (00) shows as ??.</summary>
    public static string FormatBirthDate(KioskText text, string dateOfBirth)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (dateOfBirth is not { Length: 9 } || !dateOfBirth.All(char.IsAsciiDigit) || dateOfBirth[0] - '0' >= text.EraNames.Length)
        {
            return dateOfBirth;
        }

        static string Part(string digits) => digits == "00" ? "??" : digits;
        return $"{dateOfBirth[1..5]}-{Part(dateOfBirth[5..7])}-{Part(dateOfBirth[7..9])} ({text.EraNames[dateOfBirth[0] - '0']})";
    }

    private static string Jst(DateTimeOffset value) =>
        value.ToOffset(JstOffset).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " JST";

    private static byte[] PemToDer(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim())));
}
