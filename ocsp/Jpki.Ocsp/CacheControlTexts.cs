using System.Globalization;

namespace Jpki.Ocsp;

/// <summary>
/// The Cache-Control values of cached answers, made once per (max-age, public or private) rather than
/// per request: max-age counts down in whole seconds from the validity, so there are at most two per second
/// of it. Longer validities (over a day) format the value each time.
/// </summary>
internal sealed class CacheControlTexts(TimeSpan validity)
{
    private const int MaxSlots = 86_401;

    private readonly string?[] shared = new string?[Math.Min(MaxSlots, (int)Math.Max(1, validity.TotalSeconds + 1))];
    private readonly string?[] privateOnly = new string?[Math.Min(MaxSlots, (int)Math.Max(1, validity.TotalSeconds + 1))];

    public string For(long maxAge, bool sharedCacheable)
    {
        var slots = sharedCacheable ? shared : privateOnly;
        if (maxAge < 0 || maxAge >= slots.Length)
        {
            return Format(maxAge, sharedCacheable);
        }

        return slots[maxAge] ??= Format(maxAge, sharedCacheable);
    }

    private static string Format(long maxAge, bool sharedCacheable) =>
        string.Create(CultureInfo.InvariantCulture, $"max-age={maxAge}, {(sharedCacheable ? "public" : "private")}, no-transform, must-revalidate");
}
