"""The start-a-job form: a method and its parameters, built from the method's Param list."""
from django import forms

from .methods import METHODS, Method


def method_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} — {method.label}") for name, method in METHODS.items()]


class JobStartForm(forms.Form):
    """Parameter fields are named ``param-<name>``; empty ones take the method's default."""

    method = forms.ChoiceField(choices=method_choices)

    def __init__(self, *args, method: str = "sample", params_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if params_url:  # swap in the chosen method's fields
            self.fields["method"].widget.attrs.update(
                {"hx-get": params_url, "hx-target": "#job-params", "hx-swap": "outerHTML"}
            )
        self.spec: Method = METHODS.get(self.data.get("method") or method) or METHODS["sample"]
        self.fields["method"].initial = self.spec.name
        for param in self.spec.params:
            label = f"{param.name}"
            if param.kind == "bool":
                field = forms.ChoiceField(choices=[("false", "false"), ("true", "true")], label=label, required=False)
            elif param.choices:
                field = forms.ChoiceField(choices=[(c, c) for c in param.choices], label=label, required=False)
            else:
                field = forms.CharField(label=label, required=False)
            field.initial = param.default_text
            field.help_text = param.help
            self.fields[f"param-{param.name}"] = field

    def param_fields(self):
        return [self[name] for name in self.fields if name.startswith("param-")]

    def params(self) -> dict:
        """The submitted parameters that differ from an empty field, as raw strings."""
        values = {}
        for param in self.spec.params:
            raw = (self.data.get(f"param-{param.name}") or "").strip()
            if raw != "":
                values[param.name] = raw
        return values
