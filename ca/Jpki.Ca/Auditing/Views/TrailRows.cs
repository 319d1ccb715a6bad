using System.Globalization;
using static Jpki.Ca.Auditing.Views.AuditText;

namespace Jpki.Ca.Auditing.Views;

/// <summary>The labelled rows of the trail page's tables, one method per table.</summary>
public static class TrailRows
{
    public static (string, string?)[] Certificate(TrailAnswer trail)
    {
        ArgumentNullException.ThrowIfNull(trail);
        return
        [
            ("シリアル Serial", trail.Serial), ("種別 Kind", trail.Kind), ("発行者鍵 Issuer key", trail.IssuerKeyId), ("市区町村 Municipality", trail.MunicipalityCode),
            ("状態 Status", trail.Status), ("有効期間 Validity", $"{Jst(trail.NotBefore)} – {Jst(trail.NotAfter)}"), ("失効日時 Revoked at", Jst(trail.RevokedAt)),
            ("理由 Reason", trail.Reason), ("事由 Cause", trail.Cause), ("起因 Source", trail.Source), ("無効日 Invalidity date", trail.InvalidityDate), ("交付状態 Delivery", trail.DeliveryState),
        ];
    }

    public static (string, string?)[] Issuance(TrailIssuance issuance)
    {
        ArgumentNullException.ThrowIfNull(issuance);
        return
        [
            ("日時 At", Jst(issuance.At)), ("操作者 By", issuance.By), ("市区町村 Municipality", issuance.MunicipalityCode), ("窓口 Window", issuance.WindowId),
            ("住基ネット連番 Juki-Net sequence", issuance.JukiSequence?.ToString(CultureInfo.InvariantCulture)), ("監査記録 Audit record", issuance.AuditSeq?.ToString(CultureInfo.InvariantCulture)),
        ];
    }

    public static (string, string?)[] Step(TrailStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return
        [
            ("日時 At", Jst(step.At)), ("実行者 By", step.By), ("操作 Action", step.Action), ("事由 Cause", step.Cause), ("理由 Reason", step.Reason),
            ("前の理由 Previous reason", step.PreviousReason), ("起因 Source", step.Source), ("監査記録 Audit record", Number(step.AuditSeq)),
        ];
    }

    public static (string, string?)[] Event(TrailEvent ev)
    {
        ArgumentNullException.ThrowIfNull(ev);
        return
        [
            ("連番 Sequence", Number(ev.Sequence)), ("種類 Type", ev.Type), ("異動日 Effective", ev.EffectiveDate),
            ("住民鍵 Resident key (HMAC)", ev.ResidentKey), ("HMAC鍵 Key id", ev.HmacKeyId), ("到着 Arrived", Jst(ev.ReceivedAt)), ("適用 Applied", Jst(ev.AppliedAt)), ("結果 Outcome", ev.Outcome),
        ];
    }

    public static (string, string?)[] Request(TrailRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return
        [
            ("番号 Id", Number(request.Id)), ("申請者 Requested by", request.RequestedBy), ("日時 At", Jst(request.At)), ("事由 Cause", request.Cause), ("理由書 Statement", request.Statement),
        ];
    }

    public static (string, string?)[] Compromise(TrailCompromise compromise)
    {
        ArgumentNullException.ThrowIfNull(compromise);
        return
        [
            ("番号 Id", Number(compromise.Id)), ("申請者 Requested by", compromise.RequestedBy), ("申請日時 Requested at", Jst(compromise.RequestedAt)),
            ("承認者 Approved by", compromise.ApprovedBy), ("承認日時 Approved at", Jst(compromise.ApprovedAt)), ("理由書 Statement", compromise.Statement),
        ];
    }

    public static (string, string?)[] FirstCrl(TrailCrl crl)
    {
        ArgumentNullException.ThrowIfNull(crl);
        return
        [
            ("CRL番号 Number", Number(crl.Number)), ("thisUpdate", Jst(crl.ThisUpdate)), ("範囲 Scope", crl.Scope), ("発行者鍵 Issuer key", crl.IssuerKeyId),
            ("種類 Kind", crl.Kind), ("公開 Published", Jst(crl.PublishedAt)), ("SHA-256", crl.Sha256), ("実行者 By", crl.By),
        ];
    }

    public static (string, string?)[] FirstOcsp(TrailOcsp ocsp)
    {
        ArgumentNullException.ThrowIfNull(ocsp);
        return [("producedAt", Jst(ocsp.ProducedAt)), ("署名 Signed", ocsp.SignedAt is { } signed ? Jst(signed) : "—"), ("設置 Installed", Jst(ocsp.InstalledAt)), ("実行者 By", ocsp.By)];
    }

    public static (string, string?)[] Latencies(TrailLatencies l)
    {
        ArgumentNullException.ThrowIfNull(l);
        return
        [
            ("到着→適用 Event arrival → applied", Ms(l.EventArrivalToAppliedMs)), ("起因→失効 Cause → revocation", Ms(l.CauseToRevocationMs)),
            ("失効→CRL Revocation → CRL thisUpdate", Ms(l.RevocationToCrlThisUpdateMs)), ("失効→CRL公開 Revocation → CRL published", Ms(l.RevocationToCrlPublishedMs)),
            ("失効→OCSP Revocation → OCSP answer", Ms(l.RevocationToOcspAnswerMs)),
            ("起因→CRL Cause → CRL", Ms(l.CauseToCrlThisUpdateMs)), ("起因→OCSP Cause → OCSP", Ms(l.CauseToOcspAnswerMs)),
        ];
    }
}
