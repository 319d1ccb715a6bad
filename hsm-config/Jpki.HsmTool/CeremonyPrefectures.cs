using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Configuration;
using Jpki.Core.Profiles;

namespace Jpki.HsmTool;

/// <summary>
/// <c>hsm init --prefectures all|CODE,CODE</c>: writes the chosen prefectures (from the one table,
/// <see cref="Prefectures"/>) into jpki.json's <c>prefectures</c> before the ceremony runs, so the
/// ceremony makes their issuers (two each) exactly as it makes the default one. A new home gets
/// exactly the chosen list; an existing one keeps every prefecture it lists and gains the new
/// ones, because an issuer already in the store must stay configured (rollover, issuance and
/// the CRL series look it up there).
/// </summary>
public static class CeremonyPrefectures
{
    /// <summary>Returns the prefectures added to jpki.json (empty when all were configured).</summary>
    public static IReadOnlyList<Prefecture> Configure(string home, string selection)
    {
        var chosen = Prefectures.Select(selection);
        var path = Path.Combine(home, JpkiSettings.FileName);
        var isNew = !File.Exists(path);
        var settings = JpkiSettings.Load(home, writeDefaults: true);
        var kept = isNew ? [] : settings.Prefectures;
        var added = chosen.Where(p => kept.All(k => k.Code != p.Code)).ToList();
        var list = kept.Concat(added.Select(p => new PrefectureSettings { Name = p.RomanisedName, Kanji = p.KanjiName, Code = p.Code }))
            .OrderBy(p => p.Code, StringComparer.Ordinal)
            .ToList();
        if (!isNew && added.Count == 0)
        {
            return added;
        }

        var root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path} is empty");
        root["prefectures"] = new JsonArray([.. list.Select(p => (JsonNode)new JsonObject { ["name"] = p.Name, ["kanji"] = p.Kanji, ["code"] = p.Code })]);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        File.Move(temporary, path, overwrite: true);

        // Read back through the loader: a list the services could not start with fails here.
        _ = JpkiSettings.Load(home, writeDefaults: false);
        return added;
    }
}
