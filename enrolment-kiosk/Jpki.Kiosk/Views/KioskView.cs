using Microsoft.AspNetCore.Components;

namespace Jpki.Kiosk.Views;

/// <summary>
/// A kiosk page or part of one: a Razor component rendered on the server, in the language of
/// <see cref="Text"/>, for the operator named by <see cref="Account"/> (null before the login).
/// Every value is written through Razor's HTML encoder (the one registered from
/// <c>WebEncoderOptions</c>, which lets Japanese text through as characters).
/// </summary>
public abstract class KioskView : ComponentBase
{
    [Parameter]
    [EditorRequired]
    public KioskText Text { get; set; } = KioskText.Japanese;

    [Parameter]
    public string? Account { get; set; }
}
