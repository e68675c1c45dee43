from __future__ import annotations

from django import forms

from apps.contact.services import MESSAGE_MAX
from apps.conversations.validators import NAME_MAX


class ContactForm(forms.Form):
    """Only the shape of the form; the rules (phone and e-mail formats, required fields) live in the service."""

    name = forms.CharField(label="Name", max_length=NAME_MAX)
    phone = forms.CharField(label="Phone", max_length=40, help_text="e.g. +33 6 12 34 56 78")
    email = forms.CharField(label="E-mail (optional)", max_length=254, required=False)
    message = forms.CharField(label="Your message", max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 5}))
