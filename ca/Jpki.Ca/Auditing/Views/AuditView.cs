using Microsoft.AspNetCore.Components;

namespace Jpki.Ca.Auditing.Views;

/// <summary>
/// An auditor page: a Razor component rendered on the server for the auditor named by
/// <see cref="Auditor"/> (null on the login page and on refusals). Every value is written through
/// Razor's HTML encoder (the one <see cref="Jpki.Hosting.JapanesePages"/> registers, which lets
/// Japanese text through as characters); nothing is written as raw markup, the charts' SVG included.
/// </summary>
public abstract class AuditView : ComponentBase
{
    [Parameter]
    public string? Auditor { get; set; }
}
