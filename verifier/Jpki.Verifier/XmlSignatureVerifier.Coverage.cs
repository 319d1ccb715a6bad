using System.Xml;

namespace Jpki.Verifier;

/// <summary>Where the reference lands: the element the application processes, once, outside the signature (XML signature wrapping).</summary>
public static partial class XmlSignatureVerifier
{
    private sealed record Coverage(Failure? Failure, XmlElement? Element);

    /// <summary>
    /// Resolves the reference by the same rule SignedXml uses (an Id, ID or id attribute) and
    /// requires it to land on the element the application processes, once in the document and
    /// outside the signature. A moved original (under ds:Object, in a wrapper) with a forged copy
    /// where the application looks is caught here, though its digest still matches.
    /// </summary>
    private static Coverage CheckCoverage(XmlDocument document, XmlElement signature, string uri, XmlSignatureOptions xmlOptions)
    {
        Coverage Refuse(string detail) => new(Fail(FailureReason.SignatureWrapping, detail), null);

        XmlElement target;
        if (uri.Length == 0)
        {
            target = document.DocumentElement!;
        }
        else
        {
            var id = uri[1..];
            var withId = document.SelectNodes("//*")!.OfType<XmlElement>()
                .Where(e => e.GetAttribute("Id") == id || e.GetAttribute("ID") == id || e.GetAttribute("id") == id).ToList();
            if (withId.Count != 1)
            {
                return Refuse($"the id '{id}' names {withId.Count} elements (exactly one expected)");
            }

            target = withId[0];
        }

        XmlElement processed;
        if (xmlOptions.SignedElement is { } name)
        {
            var named = document.GetElementsByTagName(name.Name, name.Namespace).OfType<XmlElement>().ToList();
            if (named.Count != 1)
            {
                return Refuse($"the document has {named.Count} <{name.Name}> elements{(name.Namespace.Length > 0 ? $" in {name.Namespace}" : "")} (exactly one expected: the one processed)");
            }

            processed = named[0];
        }
        else
        {
            processed = document.DocumentElement!;
        }

        if (IsWithin(target, signature))
        {
            return Refuse($"the signature covers <{target.Name}> inside the ds:Signature itself, not the document's content");
        }

        if (!ReferenceEquals(target, processed))
        {
            return Refuse($"the signature covers <{target.Name}>{Where(target)}, not the processed <{processed.Name}>{Where(processed)}");
        }

        return new Coverage(null, target);
    }

    private static string Where(XmlElement element) =>
        element.ParentNode is XmlElement parent ? $" under <{parent.Name}>" : " (the document element)";

    private static bool IsWithin(XmlNode node, XmlElement ancestor)
    {
        for (var current = node; current is not null; current = current.ParentNode)
        {
            if (ReferenceEquals(current, ancestor))
            {
                return true;
            }
        }

        return false;
    }
}
