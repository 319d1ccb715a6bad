using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace Jpki.JukiNet;

/// <summary>The JSON conventions of the Juki-Net contract, shared by the client and the simulator.</summary>
public static class JukiNetJson
{
    /// <summary>Problem type of a 404 for a resident code the registry does not hold.</summary>
    public const string ResidentNotFoundProblemType = "urn:jpki:jukinet:resident-not-found";

    /// <summary>
    /// camelCase, nulls left out, numbers only as numbers, required members and non-nullable
    /// references enforced on read, kanji written as themselves. Read-only, so sharing it is safe.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            NumberHandling = JsonNumberHandling.Strict,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
