using System.Globalization;

namespace Jpki.Ca.Auditing.Views;

/// <summary>How the pages write values: instants in JST with microseconds, milliseconds, a dash for nothing.</summary>
public static class AuditText
{
    public const string None = "—";

    public static string Or(string? value) => value ?? None;

    public static string Jst(DateTimeOffset? instant) =>
        instant is { } i ? Core.Jst.ToJst(i).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) : None;

    public static string Ms(double? value) => value?.ToString("0.###", CultureInfo.InvariantCulture) ?? None;

    public static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? None;
}
