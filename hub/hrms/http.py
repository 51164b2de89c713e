"""What the HTTP clients share: turning transport errors and status codes into retry-or-give-up."""

import httpx

from hub.hrms import TargetRefused, TargetUnavailable

RETRY_STATUSES = {401, 403, 408, 409, 425, 429}  # auth is a config fault an admin fixes: keep the punch


def classify(target: str, response: httpx.Response) -> None:
    """Raise for a response that did not take the punch: TargetUnavailable (retry) or TargetRefused."""
    if response.is_success:
        return
    detail = f"{target}: HTTP {response.status_code} from {response.request.method} {response.request.url.path}: " \
             f"{response.text[:300]}"
    if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
        raise TargetUnavailable(detail)
    raise TargetRefused(detail)


def transport_error(target: str, exc: httpx.HTTPError) -> TargetUnavailable:
    return TargetUnavailable(f"{target}: {type(exc).__name__}: {exc}")
