using Microsoft.AspNetCore.Components;

namespace Jpki.Ca.OfficerConsole.Views;

/// <summary>
/// An officer console page: a Razor component rendered on the server for <see cref="Officer"/>
/// (null on the login page and on refusals), with the session's form token <see cref="Csrf"/>
/// that every form of the page carries. Values are written through Razor's HTML encoder only
/// (the one <see cref="Jpki.Hosting.JapanesePages"/> registers), never as raw markup.
/// </summary>
public abstract class ConsoleView : ComponentBase
{
    [Parameter]
    public string? Officer { get; set; }

    [Parameter]
    public string Csrf { get; set; } = "";
}
