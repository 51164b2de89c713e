"""Every refusal of the phone flow: a stable code, an HTTP status, and English + Hindi text.

The code is the contract (the page, tests and the audit table key on it);
the text is for the person holding the phone, so it says what to do next.
Placeholders in the text are filled from the refusal's ``details``, which
are also returned to the page as data.
"""

from dataclasses import dataclass
from typing import Any

from hub.phone import PhoneError


@dataclass(frozen=True)
class Reason:
    status: int
    en: str
    hi: str


REASONS: dict[str, Reason] = {
    # transport and identity
    "https_required": Reason(
        403, "The phone page only works over a secure (https) connection.",
        "फ़ोन पेज केवल सुरक्षित (https) कनेक्शन पर काम करता है।"),
    "session_missing": Reason(401, "Please log in.", "कृपया लॉग इन करें।"),
    "session_invalid": Reason(
        401, "Your login is not valid. Please log in again.",
        "आपका लॉगिन मान्य नहीं है। कृपया फिर से लॉग इन करें।"),
    "session_expired": Reason(
        401, "Your login has expired. Please log in again.",
        "आपका लॉगिन समाप्त हो गया है। कृपया फिर से लॉग इन करें।"),
    "phone_not_bound": Reason(
        401, "This phone is not activated for your staff number. Activate it again.",
        "यह फ़ोन आपके कर्मचारी नंबर के लिए सक्रिय नहीं है। इसे फिर से सक्रिय करें।"),
    "locked_out": Reason(
        429, "Too many failed attempts. Try again in {minutes} minutes.",
        "बहुत अधिक असफल प्रयास। {minutes} मिनट बाद फिर से प्रयास करें।"),
    "sms_limit": Reason(
        429, "Too many codes requested. Try again in {minutes} minutes.",
        "बहुत अधिक कोड मांगे गए। {minutes} मिनट बाद फिर से प्रयास करें।"),
    "employee_unknown": Reason(
        404, "This staff number is not registered.", "यह कर्मचारी नंबर पंजीकृत नहीं है।"),
    "employee_inactive": Reason(
        403, "This staff number is no longer active.", "यह कर्मचारी नंबर अब सक्रिय नहीं है।"),
    "sms_failed": Reason(
        503, "The code could not be sent. Try again later.", "कोड नहीं भेजा जा सका। बाद में फिर से प्रयास करें।"),
    # activation
    "activation_invalid": Reason(
        400, "This activation is not valid any more. Request a new code.",
        "यह सक्रियण अब मान्य नहीं है। नया कोड मांगें।"),
    "code_expired": Reason(
        410, "The code has expired. Request a new code.", "कोड की समय-सीमा समाप्त हो गई है। नया कोड मांगें।"),
    "code_wrong": Reason(
        400, "Wrong code. {attempts_left} attempts left.", "गलत कोड। {attempts_left} प्रयास बाकी हैं।"),
    "code_attempts_exhausted": Reason(
        410, "Too many wrong codes. Request a new code.", "बहुत अधिक गलत कोड। नया कोड मांगें।"),
    "setup_invalid": Reason(
        400, "Password setup has expired. Start the activation again.",
        "पासवर्ड सेट करने का समय समाप्त हो गया है। सक्रियण फिर से शुरू करें।"),
    "password_too_short": Reason(
        422, "The password must have at least {min_length} characters.",
        "पासवर्ड में कम से कम {min_length} अक्षर होने चाहिए।"),
    "password_too_simple": Reason(
        422, "The password is too simple: mix letters and digits, without long repeats.",
        "पासवर्ड बहुत आसान है: अक्षर और अंक मिलाएँ, लंबे दोहराव के बिना।"),
    "password_contains_identity": Reason(
        422, "The password must not contain your staff number, mobile number or name.",
        "पासवर्ड में आपका कर्मचारी नंबर, मोबाइल नंबर या नाम नहीं होना चाहिए।"),
    "password_common": Reason(
        422, "This password is too common. Choose another.", "यह पासवर्ड बहुत आम है। कोई दूसरा चुनें।"),
    "login_failed": Reason(401, "Wrong staff number or password.", "गलत कर्मचारी नंबर या पासवर्ड।"),
    # punch
    "consent_missing": Reason(
        403, "Accept the notice first: read what is kept and why, and agree, before punching with a selfie.",
        "पहले सूचना स्वीकार करें: सेल्फ़ी से पंच करने से पहले पढ़ें कि क्या रखा जाता है और क्यों, और सहमति दें।"),
    "nonce_invalid": Reason(
        400, "This punch request is not valid. Try again.", "यह पंच अनुरोध मान्य नहीं है। फिर से प्रयास करें।"),
    "nonce_expired": Reason(
        400, "This punch request is too old. Try again.", "यह पंच अनुरोध बहुत पुराना है। फिर से प्रयास करें।"),
    "nonce_reused": Reason(
        409, "This punch request was already used. Try again.",
        "यह पंच अनुरोध पहले ही उपयोग हो चुका है। फिर से प्रयास करें।"),
    "position_invalid": Reason(
        422, "The position from the phone is not valid. Turn on location and try again.",
        "फ़ोन से मिला स्थान मान्य नहीं है। लोकेशन चालू करके फिर से प्रयास करें।"),
    "accuracy_too_low": Reason(
        422, "Location is not accurate enough ({accuracy_m} m; at most {max_accuracy_m} m). "
             "Go outdoors or wait a moment and try again.",
        "स्थान पर्याप्त सटीक नहीं है ({accuracy_m} मी; अधिकतम {max_accuracy_m} मी)। "
        "खुले में जाएँ या थोड़ा रुककर फिर से प्रयास करें।"),
    "no_allowed_site": Reason(
        409, "No site with a location is assigned to you. Contact your office.",
        "आपको स्थान सहित कोई साइट नहीं दी गई है। अपने कार्यालय से संपर्क करें।"),
    "outside_geofence": Reason(
        403, "You are not at an allowed site: {site_name} is {distance_m} m away (limit {radius_m} m).",
        "आप किसी अनुमत साइट पर नहीं हैं: {site_name} {distance_m} मी दूर है (सीमा {radius_m} मी)।"),
    "phone_not_allowed_at_site": Reason(
        403, "Phone punching is not allowed at {site_name}. Use the kiosk.",
        "{site_name} पर फ़ोन से पंच की अनुमति नहीं है। कियोस्क का उपयोग करें।"),
    "kiosk_available": Reason(
        403, "The kiosk at {site_name} is working. Punch at the kiosk.",
        "{site_name} पर कियोस्क चालू है। कियोस्क पर पंच करें।"),
    "reason_required": Reason(
        422, "{site_name} is not your home site: enter a reason.",
        "{site_name} आपकी मूल साइट नहीं है: कारण लिखें।"),
    "reason_too_long": Reason(
        422, "The reason is too long (at most {max_chars} characters).",
        "कारण बहुत लंबा है (अधिकतम {max_chars} अक्षर)।"),
    "impossible_travel": Reason(
        403, "Your position is {distance_km} km from your last punch {minutes} minutes ago; that is not possible.",
        "आपका स्थान आपके पिछले पंच ({minutes} मिनट पहले) से {distance_km} किमी दूर है; यह संभव नहीं है।"),
    "selfie_missing": Reason(422, "Take a selfie to punch.", "पंच करने के लिए सेल्फ़ी लें।"),
    "selfie_too_large": Reason(
        413, "The photo is too large (at most {max_bytes} bytes).", "फ़ोटो बहुत बड़ी है (अधिकतम {max_bytes} बाइट)।"),
    "selfie_invalid": Reason(
        422, "The photo could not be read. Take it again.", "फ़ोटो पढ़ी नहीं जा सकी। फिर से लें।"),
    "no_face": Reason(
        422, "No face found in the photo. Face the camera in good light.",
        "फ़ोटो में कोई चेहरा नहीं मिला। अच्छी रोशनी में कैमरे की ओर देखें।"),
    "several_faces": Reason(
        422, "More than one face in the photo. Only you should be in the picture.",
        "फ़ोटो में एक से अधिक चेहरे हैं। फ़ोटो में केवल आप होने चाहिए।"),
    "not_enrolled": Reason(
        409, "Your face is not enrolled yet. Contact your office.",
        "आपका चेहरा अभी पंजीकृत नहीं है। अपने कार्यालय से संपर्क करें।"),
    "face_mismatch": Reason(
        403, "The face does not match your enrolled photos.", "चेहरा आपकी पंजीकृत फ़ोटो से मेल नहीं खाता।"),
    "burst_missing": Reason(
        422, "Follow the check on the screen: a punch needs a short recording of your face.",
        "स्क्रीन पर दी गई जाँच पूरी करें: पंच के लिए आपके चेहरे की छोटी रिकॉर्डिंग चाहिए।"),
    "burst_invalid": Reason(
        422, "The recording could not be used ({detail}). Try again.",
        "रिकॉर्डिंग का उपयोग नहीं हो सका ({detail})। फिर से प्रयास करें।"),
    "burst_too_large": Reason(
        413, "The recording is too large (at most {max_bytes} bytes).",
        "रिकॉर्डिंग बहुत बड़ी है (अधिकतम {max_bytes} बाइट)।"),
    "not_live": Reason(
        403, "The check did not see a live person doing what the screen asked. Hold the phone at eye level in "
             "good light and try again; photos and screens are not accepted.",
        "जाँच में स्क्रीन के निर्देश का पालन करता जीवित व्यक्ति नहीं दिखा। फ़ोन आँखों की ऊँचाई पर, अच्छी रोशनी में "
        "रखकर फिर से प्रयास करें; फ़ोटो और स्क्रीन स्वीकार नहीं हैं।"),
    "face_changed": Reason(
        403, "The face changed during the check. Only you should be in front of the camera.",
        "जाँच के दौरान चेहरा बदल गया। कैमरे के सामने केवल आप होने चाहिए।"),
    "frame_reused": Reason(
        409, "This photo or recording was already used for a punch. Punch again with the camera.",
        "यह फ़ोटो या रिकॉर्डिंग पहले ही किसी पंच में उपयोग हो चुकी है। कैमरे से फिर से पंच करें।"),
    "outside_network": Reason(
        403, "Phone punches at {site_name} must come from the office network.",
        "{site_name} पर फ़ोन से पंच केवल कार्यालय के नेटवर्क से हो सकता है।"),
    "request_invalid": Reason(422, "The request is not valid: {detail}.", "अनुरोध मान्य नहीं है: {detail}।"),
    # regularisation: asking to correct a day (hub.attendance.regularisation)
    "reg_kind_unknown": Reason(
        422, "Choose one of the reasons offered.", "दिए गए कारणों में से एक चुनें।"),
    "reg_reason_missing": Reason(
        422, "Say in a few words what happened.", "कुछ शब्दों में बताएं कि क्या हुआ।"),
    "reg_reason_too_long": Reason(
        422, "The reason is too long (at most {max} characters).", "कारण बहुत लंबा है (अधिकतम {max} अक्षर)।"),
    "reg_day_invalid": Reason(
        422, "Choose the day to correct.", "सुधार के लिए दिन चुनें।"),
    "reg_future_day": Reason(
        422, "{day} has not come yet: only a past day or today can be corrected.",
        "{day} अभी आया नहीं है: केवल बीता हुआ दिन या आज सुधारा जा सकता है।"),
    "reg_too_old": Reason(
        422, "{day} is too long ago: a day can be corrected within {days} days.",
        "{day} बहुत पहले का है: किसी दिन को {days} दिनों के भीतर ही सुधारा जा सकता है।"),
    "reg_not_working_day": Reason(
        422, "{day} is not a working day: there is nothing to correct.",
        "{day} कार्य दिवस नहीं है: सुधारने को कुछ नहीं है।"),
    "reg_day_present": Reason(
        409, "{day} is already marked present: there is nothing to correct.",
        "{day} पहले से उपस्थित दर्ज है: सुधारने को कुछ नहीं है।"),
    "reg_already_requested": Reason(
        409, "You have already asked to correct {day} (state: {state}).",
        "आप {day} के सुधार का अनुरोध पहले ही कर चुके हैं (स्थिति: {state})।"),
    "reg_month_limit": Reason(
        409, "You have made {limit} requests for {month} already, the most allowed in a month.",
        "आप {month} के लिए पहले ही {limit} अनुरोध कर चुके हैं, जो एक महीने में अधिकतम है।"),
    "reg_attachment_too_large": Reason(
        413, "The attachment is too large (at most {max_kb} kB).", "संलग्न फ़ाइल बहुत बड़ी है (अधिकतम {max_kb} kB)।"),
    "reg_attachment_type": Reason(
        415, "The attachment must be a {types} file.", "संलग्न फ़ाइल {types} प्रकार की होनी चाहिए।"),
}

ACCEPTED = Reason(200, "Punch recorded at {site_name}, {time}.", "{site_name} पर {time} बजे पंच दर्ज हुआ।")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def render(reason: Reason, details: dict[str, Any]) -> dict[str, str]:
    """Both languages, placeholders filled from ``details`` (a missing one shows as ``?``)."""
    values = _Blank(details)
    return {"en": reason.en.format_map(values), "hi": reason.hi.format_map(values)}


class Refused(PhoneError):
    """A request the phone flow turns down; ``code`` is a key of ``REASONS``."""

    def __init__(self, code: str, **details: Any) -> None:
        if code not in REASONS:
            raise KeyError(f"unknown refusal code {code!r}")
        super().__init__(code)
        self.code = code
        self.details = details

    @property
    def status(self) -> int:
        return REASONS[self.code].status

    def body(self) -> dict[str, Any]:
        """The JSON the page receives."""
        return {"ok": False, "reason": self.code, "message": render(REASONS[self.code], self.details),
                "details": self.details}

