"""REST API views: thin, one method per operation, the role checked first.

Every project endpoint starts with ``project_for(user, slug, role)``: 404 for
non-members (a project's existence is not revealed), 403 for a role too low.
Annotators read only their own judgments; only admins start jobs, exports and imports.
"""
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from curation import selectors, services
from curation.exports import ExportError
from curation.importers import RecordError, dataset_import_upload
from curation.job_service import JobRejected, job_service
from curation.models import ExportJob, GenerationJob, Pair, Rubric
from curation.agreement import report as agreement_report
from curation.overview import agreement_overview
from curation.permissions import Role, project_for, visible_projects

from . import serializers as s
from .errors import ApiError
from .pagination import IdCursorPagination, NewestFirstPagination

ERRORS = {code: OpenApiResponse(s.ErrorOut, description=text) for code, text in (
    (400, "invalid input: `detail` says what, `field` names the input"),
    (403, "your role in the project is too low"),
    (404, "no such project (or you are not a member), or no such object in it"),
)}


def _get(queryset, pk: int, what: str):
    """One object of the project by id, or 404 (also for ids beyond 64 bits)."""
    if pk > s.MAX_ID:
        raise Http404(f"No such {what} in this project.")
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404(f"No such {what} in this project.")


def _filters(serializer_class, request: Request) -> dict:
    filters = serializer_class(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return filters.validated_data


def _page(request: Request, view, queryset, serializer_class, pagination=IdCursorPagination, context=None):
    paginator = pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)


PAGE_PARAMS = [
    OpenApiParameter("cursor", str, description="the opaque cursor from a page's `next` or `previous` link"),
    OpenApiParameter("page_size", int, description="rows per page (default 100, at most 1000)"),
]


class ProjectList(APIView):
    @extend_schema(operation_id="projects_list", responses={200: s.ProjectOut(many=True)})
    def get(self, request: Request) -> Response:
        return _page(request, self, visible_projects(request.user), s.ProjectOut)


class ProjectDetail(APIView):
    @extend_schema(operation_id="project_detail", responses={200: s.ProjectDetailOut, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, role = project_for(request.user, slug)
        context = {"role": role, "counts": selectors.project_counts(project)}
        return Response(s.ProjectDetailOut(project, context=context).data)


class PromptList(APIView):
    @extend_schema(operation_id="prompts_list", parameters=[s.PromptFilters, *PAGE_PARAMS],
                   responses={200: s.PromptOut(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        prompts = selectors.api_prompts(project=project, filters=_filters(s.PromptFilters, request))
        return _page(request, self, prompts, s.PromptOut)


class PairList(APIView):
    @extend_schema(operation_id="pairs_list", parameters=[s.PairFilters, *PAGE_PARAMS],
                   responses={200: s.PairOut(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        pairs = selectors.api_pairs(project=project, filters=_filters(s.PairFilters, request))
        return _page(request, self, pairs, s.PairOut)


class PairDetail(APIView):
    @extend_schema(operation_id="pair_detail", responses={200: s.PairOut, **ERRORS},
                   description="Annotators get the texts only (PairBlindOut): no labels, tiers, producers or AI.")
    def get(self, request: Request, slug: str, pair_id: int) -> Response:
        project, role = project_for(request.user, slug)
        pair = _get(Pair.objects.filter(project=project).select_related("prompt", "response_a", "response_b"), pair_id,
                    "pair")
        serializer = s.PairOut if role != Role.ANNOTATOR else s.PairBlindOut
        return Response(serializer(pair).data)


class JudgmentList(APIView):
    @extend_schema(operation_id="judgments_list", parameters=[s.JudgmentFilters, *PAGE_PARAMS],
                   responses={200: s.JudgmentOut(many=True), **ERRORS},
                   description="Reviewers and admins see every judgment; annotators only their own.")
    def get(self, request: Request, slug: str) -> Response:
        project, role = project_for(request.user, slug)
        filters = _filters(s.JudgmentFilters, request)
        judgments = selectors.api_judgments(project=project, viewer=request.user, role=role, filters=filters)
        return _page(request, self, judgments, s.JudgmentOut)

    @extend_schema(operation_id="judgments_create", request=s.JudgmentIn, responses={201: s.JudgmentOut, **ERRORS},
                   description="Records a human judgment by the requesting user, with the review page's rules.")
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug)
        data = s.JudgmentIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            pair = Pair.objects.select_related("project").get(project=project, pk=fields.pop("pair"))
        except Pair.DoesNotExist:
            raise ApiError("no such pair in this project", "pair")
        fields.setdefault("mode", project.mode)
        try:
            judgment = services.judgment_record_human(
                pair=pair, annotator=services.annotator_for_user(user=request.user), **fields
            )
        except services.JudgmentRejected as rejected:
            raise ApiError(str(rejected), rejected.field)
        return Response(s.JudgmentOut(judgment).data, status=status.HTTP_201_CREATED)


class RubricList(APIView):
    @extend_schema(operation_id="rubrics_list", parameters=[s.RubricFilters, *PAGE_PARAMS],
                   responses={200: s.RubricOut(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        filters = _filters(s.RubricFilters, request)
        rubrics = Rubric.objects.filter(project=project)
        if filters.get("prompt"):
            rubrics = rubrics.filter(prompt_id=filters["prompt"])
        if filters.get("kind"):
            rubrics = rubrics.filter(kind=filters["kind"])
        return _page(request, self, rubrics, s.RubricOut)


class AgreementReport(APIView):
    @extend_schema(
        operation_id="agreement_report",
        parameters=[
            OpenApiParameter("intervals", bool, description="95% bootstrap intervals (default true)"),
            OpenApiParameter("breakdowns", bool, description="per category, template, aspect and week (default false)"),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The agreement report of `manage.py agreement_report --json` (human–human Krippendorff's α, "
                    "Fleiss' κ, percent agreement; human–AI per judge: Cohen's κ, weighted κ, α ordinal; "
                    "annotators; bias) plus `overview`: counts per tier and label source and per judge the "
                    "3-way agreement with human consensus and with the final label.",
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        intervals = _flag(request, "intervals", default=True)
        breakdowns = _flag(request, "breakdowns", default=False)
        result = agreement_report(project, intervals=intervals, breakdowns=breakdowns)
        return Response({**result, "overview": agreement_overview(project=project)})


def _flag(request: Request, name: str, *, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ApiError(f"{name} must be true or false, got {raw!r}", name)


# --- jobs -----------------------------------------------------------------------------


class JobList(APIView):
    throttle_scope = "jobs"

    def get_throttles(self):
        return [UserRateThrottle(), *([ScopedRateThrottle()] if self.request.method == "POST" else [])]

    @extend_schema(operation_id="jobs_list", parameters=[s.JobFilters, *PAGE_PARAMS],
                   responses={200: s.JobOut(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        filters = _filters(s.JobFilters, request)
        jobs = GenerationJob.objects.filter(project=project, **filters).select_related("created_by")
        return _page(request, self, jobs, s.JobOut, pagination=NewestFirstPagination)

    @extend_schema(operation_id="jobs_start", request=s.JobIn,
                   responses={201: s.JobOut, 409: OpenApiResponse(s.ErrorOut, description="no job service"), **ERRORS})
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        data = s.JobIn(data=request.data)
        data.is_valid(raise_exception=True)
        service = _job_service()
        try:
            job = service.start(project=project, user=request.user, **data.validated_data)
        except JobRejected as rejected:
            raise ApiError(str(rejected), rejected.field, status_code=_status_of(rejected))
        return Response(s.JobOut(job).data, status=status.HTTP_201_CREATED)


def _status_of(error: JobRejected | ExportError) -> int:
    """Bad input is a 400; a service that is down (the broker) a 503: retry later."""
    return status.HTTP_503_SERVICE_UNAVAILABLE if error.unavailable else status.HTTP_400_BAD_REQUEST


def _job_service():
    service = job_service()
    if service is None:
        raise ApiError("jobs cannot be started or cancelled here yet: the generation app has not registered "
                       "its job service", None, status_code=status.HTTP_409_CONFLICT)
    return service


def _job(project, job_id: int) -> GenerationJob:
    return _get(GenerationJob.objects.filter(project=project).select_related("created_by"), job_id, "job")


class JobDetail(APIView):
    @extend_schema(operation_id="job_status", responses={200: s.JobOut, **ERRORS})
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project, _ = project_for(request.user, slug, Role.REVIEWER)
        return Response(s.JobOut(_job(project, job_id)).data)


class JobCancel(APIView):
    @extend_schema(operation_id="job_cancel", request=None,
                   responses={200: s.JobOut, 409: OpenApiResponse(s.ErrorOut, description="no job service"), **ERRORS})
    def post(self, request: Request, slug: str, job_id: int) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        job = _job(project, job_id)
        try:
            job = _job_service().cancel(job=job, user=request.user)
        except JobRejected as rejected:
            raise ApiError(str(rejected), rejected.field)
        return Response(s.JobOut(job).data)


# --- exports and import ------------------------------------------------------------


class ExportList(APIView):
    throttle_scope = "jobs"

    def get_throttles(self):
        return [UserRateThrottle(), *([ScopedRateThrottle()] if self.request.method == "POST" else [])]

    @extend_schema(operation_id="exports_list", parameters=PAGE_PARAMS, responses={200: s.ExportOut(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        exports = ExportJob.objects.filter(project=project).select_related("created_by")
        return _page(request, self, exports, s.ExportOut, pagination=NewestFirstPagination, context={"project": project})

    @extend_schema(operation_id="exports_start", request=s.ExportIn, responses={202: s.ExportOut, **ERRORS},
                   description="Starts an export as a Celery job; poll its status, then download its files.")
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        data = s.ExportIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = services.export_start(project=project, options=data.validated_data, user=request.user)
        except ExportError as error:
            raise ApiError(error.message, error.field, status_code=_status_of(error))
        return Response(s.ExportOut(job, context={"project": project}).data, status=status.HTTP_202_ACCEPTED)


def _export(project, export_id: int) -> ExportJob:
    return _get(ExportJob.objects.filter(project=project).select_related("created_by"), export_id, "export")


class ExportDetail(APIView):
    @extend_schema(operation_id="export_status", responses={200: s.ExportDetailOut, **ERRORS})
    def get(self, request: Request, slug: str, export_id: int) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        return Response(s.ExportDetailOut(_export(project, export_id), context={"project": project}).data)


class ExportDownload(APIView):
    @extend_schema(operation_id="export_download",
                   parameters=[OpenApiParameter("file", str, required=True, description="a file name of the export")],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS})
    def get(self, request: Request, slug: str, export_id: int) -> FileResponse:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        job = _export(project, export_id)
        wanted = request.query_params.get("file", "")
        if job.state != ExportJob.State.DONE:
            raise ApiError(f"the export is {job.state}, not done", None, status_code=status.HTTP_409_CONFLICT)
        root = Path(settings.CONCORD_EXPORT_DIR).resolve()
        for relative in job.files:
            path = (root / relative).resolve()
            if path.name == wanted and path.is_relative_to(root) and path.is_file():
                return FileResponse(path.open("rb"), as_attachment=True, filename=wanted)
        raise ApiError(f"no file {wanted!r} in this export", "file", status_code=status.HTTP_404_NOT_FOUND)


class ImportUpload(APIView):
    parser_classes = [MultiPartParser]
    throttle_scope = "jobs"
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]

    @extend_schema(operation_id="import_upload", request={"multipart/form-data": s.ImportIn},
                   responses={200: s.ImportOut, 413: OpenApiResponse(s.ErrorOut, description="file too large"),
                              **ERRORS},
                   description="The same validation as `manage.py import_dataset`: a bad record stops the import "
                               "with its location and field, and nothing is written.")
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(request.user, slug, Role.ADMIN)
        limit = settings.CONCORD_MAX_UPLOAD_BYTES
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > limit:
            raise ApiError(f"the upload is {length / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB "
                           "(use manage.py import_dataset for larger files)", "file",
                           status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        data = s.ImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > limit:
            raise ApiError(f"the file is {upload.size / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB", "file",
                           status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            summary = dataset_import_upload(upload=upload, project=project, fmt=data.validated_data["format"],
                                            dry_run=data.validated_data["dry_run"])
        except RecordError as error:
            raise ApiError(f"nothing was imported: {error}", error.field_name, location=error.location)
        body = {"format": summary.format, "records": summary.records, "dry_run": summary.dry_run,
                "seconds": round(summary.seconds, 3), "summary": summary.line(), "counts": dict(summary.counts)}
        return Response(s.ImportOut(body).data)
