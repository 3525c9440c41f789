"""SPA_SMTP_URL forms."""

import pytest

from services.common.config import Settings
from services.notifications.mail import MaildirMailer, SmtpConfig, SmtpMailer, mailer_for


def test_plain_smtp_with_defaults():
    assert SmtpConfig.from_url("smtp://mail.example") == SmtpConfig("mail.example", 25)


def test_starttls_with_credentials_that_need_unquoting():
    config = SmtpConfig.from_url("smtp://bookings%40spa:p%2Fss@mail.example?starttls=1")
    assert config == SmtpConfig("mail.example", 587, "bookings@spa", "p/ss", starttls=True)


def test_smtps_is_implicit_tls():
    config = SmtpConfig.from_url("smtps://u:p@mail.example:2465")
    assert (config.port, config.implicit_tls, config.starttls) == (2465, True, False)


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_other_urls_are_refused(url):
    with pytest.raises(ValueError):
        SmtpConfig.from_url(url)


def test_without_an_smtp_url_mail_goes_to_a_maildir_in_the_data_dir(tmp_path):
    mailer = mailer_for(Settings(data_dir=tmp_path))
    assert isinstance(mailer, MaildirMailer) and mailer.folder == tmp_path / "mail"
    assert isinstance(mailer_for(Settings(smtp_url="smtp://h:25")), SmtpMailer)
