using System.Net;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;

namespace Jpki.Kiosk;

/// <summary>Server-rendered HTML: every value is encoded; every form carries the antiforgery token.</summary>
public static class Html
{
    public static string E(string? value) => WebUtility.HtmlEncode(value ?? "");

    public static IResult Page(KioskText text, string title, string body, string? account = null, int status = 200)
    {
        var html = new StringBuilder();
        html.Append($"<!DOCTYPE html><html lang=\"{text.Lang}\"><head><meta charset=\"utf-8\"><title>{E(title)} — {E(text.Title)}</title>");
        html.Append("<style>body{font-family:sans-serif;max-width:52em;margin:1em auto}label{display:block;margin:.6em 0}")
            .Append(".error{color:#a00;font-weight:bold}.note{color:#444}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}")
            .Append("@media print{nav,form.noprint{display:none}}</style></head><body>");
        html.Append("<nav><a href=\"/\">").Append(E(text.Title)).Append("</a> | ")
            .Append($"<a href=\"/lang?to={text.SwitchLanguageTarget}\" id=\"lang\">{E(text.SwitchLanguage)}</a>");
        if (account is not null)
        {
            html.Append($" | {E(text.LoggedInAs)}: <span id=\"account\">{E(account)}</span>");
        }

        html.Append("</nav><main><h1>").Append(E(title)).Append("</h1>").Append(body).Append("</main></body></html>");
        return Results.Content(html.ToString(), "text/html; charset=utf-8", Encoding.UTF8, status);
    }

    public static string Error(string? message) => message is null ? "" : $"<p class=\"error\" role=\"alert\">{E(message)}</p>";

    public static string Form(IAntiforgery antiforgery, HttpContext context, string action, string inner, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(antiforgery);
        var tokens = antiforgery.GetAndStoreTokens(context);
        var css = cssClass is null ? "" : $" class=\"{cssClass}\"";
        return $"<form method=\"post\" action=\"{E(action)}\"{css}><input type=\"hidden\" name=\"{E(tokens.FormFieldName)}\" value=\"{E(tokens.RequestToken)}\">{inner}</form>";
    }

    public static string Input(string label, string name, string type = "text", string? value = null, string? hint = null, string extra = "") =>
        $"<label>{E(label)}{(hint is null ? "" : $" <span class=\"note\">({E(hint)})</span>")}<br><input type=\"{type}\" name=\"{name}\" id=\"{name}\" value=\"{E(value)}\" {extra}></label>";

    public static string Button(string label, string name = "submit") => $"<button type=\"submit\" name=\"{name}\" id=\"{name}\">{E(label)}</button>";
}
