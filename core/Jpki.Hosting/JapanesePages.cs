using System.Text.Encodings.Web;
using System.Text.Unicode;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Hosting;

/// <summary>
/// What a service with server-rendered Razor pages in Japanese registers (the kiosk, the CA's
/// auditor pages): Razor components, and the HTML encoder they write every value through built
/// from <see cref="Microsoft.Extensions.WebEncoders.WebEncoderOptions"/>, so that the scripts of
/// Japanese text are written as characters (pages are read by people and by tests). Markup
/// characters are still encoded, and so is what the ranges do not name (the stock encoder always
/// writes non-ASCII spaces such as U+3000 as character references).
/// </summary>
public static class JapanesePages
{
    public static IServiceCollection AddJapanesePages(this IServiceCollection services)
    {
        services.AddWebEncoders(encoders => encoders.TextEncoderSettings = new TextEncoderSettings(
            UnicodeRanges.BasicLatin,
            UnicodeRanges.Latin1Supplement,
            UnicodeRanges.LatinExtendedA,
            UnicodeRanges.GeneralPunctuation,
            UnicodeRanges.Arrows,
            UnicodeRanges.CjkSymbolsandPunctuation,
            UnicodeRanges.Hiragana,
            UnicodeRanges.Katakana,
            UnicodeRanges.CjkUnifiedIdeographs,
            UnicodeRanges.CjkCompatibilityIdeographs,
            UnicodeRanges.HalfwidthandFullwidthForms));
        services.AddRazorComponents();
        return services;
    }
}
