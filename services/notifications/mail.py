"""Email out: over SMTP when `SPA_SMTP_URL` is set, else into a maildir under
`<data_dir>/mail/` that a developer can open (one file per message, in `new/`).

`SPA_SMTP_URL` forms: `smtp://host:25`, `smtp://user:pass@host:587?starttls=1`,
`smtps://user:pass@host:465` (implicit TLS).
"""

from __future__ import annotations

import mailbox
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from services.common.config import Settings
from services.notifications.domain import Delivery, DeliveryError
from services.notifications.emails import Appointment, render
from services.notifications.invite import build_invite

# The invite each kind carries; reminders carry none (the event is already imported).
INVITE_METHODS = {"confirmation": "REQUEST", "reschedule": "REQUEST", "cancellation": "CANCEL"}


class Mailer(Protocol):
    idempotent: bool  # sending the same Message-ID twice delivers it once

    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    implicit_tls: bool = False
    starttls: bool = False
    timeout_s: float = 30.0  # connect and each command; the delivery lease is twice this

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 30.0) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SPA_SMTP_URL must look like smtp://host:port or smtps://...")
        starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        implicit_tls = parts.scheme == "smtps"
        default_port = 465 if implicit_tls else 587 if starttls else 25
        return cls(parts.hostname, parts.port or default_port, unquote(parts.username or ""),
                   unquote(parts.password or ""), implicit_tls, starttls, timeout_s)


class SmtpMailer:
    """One connection per message: simple, and nothing to go stale between sends."""

    idempotent = False  # SMTP cannot ask whether a message went through

    def __init__(self, config: SmtpConfig):
        self.config = config

    def send(self, message: EmailMessage) -> None:
        with self._connect() as smtp:
            if self.config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.config.username:
                smtp.login(self.config.username, self.config.password)
            smtp.send_message(message)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.implicit_tls:
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)


class MaildirMailer:
    """One file per message, named by its Message-ID: a message already in the folder
    (sent before its sender could record it) is not written again."""

    idempotent = True

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.folder, create=True)  # new/, cur/ and tmp/
        name = maildir_name(message)
        if self.holds(name):
            return
        # Written in tmp/, then renamed into new/: a reader never sees half a message.
        draft = self.folder / "tmp" / f"{name}.{os.getpid()}"
        with open(draft, "wb") as file:
            file.write(message.as_bytes())
            file.flush()
            os.fsync(file.fileno())
        os.rename(draft, self.folder / "new" / name)

    def holds(self, name: str) -> bool:
        """In new/, or moved to cur/ by a mail reader (which appends ':2,<flags>')."""
        return ((self.folder / "new" / name).exists()
                or any((self.folder / "cur").glob(f"{name}:*"))
                or (self.folder / "cur" / name).exists())


def maildir_name(message: EmailMessage) -> str:
    """`<ntf_...@spa.example>` -> `ntf_...`: unique per delivery, and safe as a name."""
    return str(message["Message-ID"]).strip("<>").split("@")[0]


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(SmtpConfig.from_url(settings.smtp_url, settings.smtp_timeout_s))
    return MaildirMailer(Path(settings.data_dir) / "mail")


def compose(delivery: Delivery, mail_from: str) -> EmailMessage:
    """The email of a delivery. Its Message-ID is the delivery's, so a message sent
    twice (a worker died before recording it) is recognisably the same one."""
    appointment = Appointment.from_payload(delivery.payload)
    subject, text, html = render(delivery.kind, appointment)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, mail_from, delivery.target
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{delivery.id}@spa.example>"
    message["X-Spa-Booking"] = appointment.booking_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if method := INVITE_METHODS.get(delivery.kind):
        message.add_attachment(build_invite(appointment, method, mail_from), maintype="text",
                               subtype="calendar", filename="invite.ics",
                               params={"method": method})
    return message


def send_email(mailer: Mailer, mail_from: str, delivery: Delivery) -> None:
    message = compose(delivery, mail_from)
    try:
        mailer.send(message)
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("the mail server refused the recipient") from None
    except smtplib.SMTPResponseException as error:
        raise DeliveryError(f"the mail server answered {error.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"mail server unavailable ({type(error).__name__})") from None
