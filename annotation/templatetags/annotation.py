from django import template

from curation.models import Annotator

from ..selectors import annotator_progress

register = template.Library()


@register.inclusion_tag("annotation/_start_card.html", takes_context=True)
def annotation_start_card(context) -> dict:
    """The "Start annotating" section of a project's page, with the viewer's own progress."""
    project = context["project"]
    annotator = Annotator.objects.filter(user=context["request"].user).first()
    return {"project": project, "progress": annotator_progress(project=project, annotator=annotator)}


@register.filter
def duration(milliseconds) -> str:
    """12 s, 3 min 05 s."""
    if milliseconds is None:
        return "—"
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"
