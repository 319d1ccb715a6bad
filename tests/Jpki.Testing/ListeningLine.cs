using System.Text.Json;

namespace Jpki.Testing;

/// <summary>The start-up line every service writes on standard output once it listens (a JSON log line like all its others).</summary>
public static class ListeningLine
{
    /// <summary>What follows <paramref name="prefix"/> ("CA API listening on ") in the line's Message, or null for any other line.</summary>
    public static string? Urls(string line, string prefix)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(prefix);
        if (!line.StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.TryGetProperty("Message", out var message) && message.GetString() is { } text && text.StartsWith(prefix, StringComparison.Ordinal)
                ? text[prefix.Length..].Trim()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
