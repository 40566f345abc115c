# The Lambda image: AWS's Python base image for arm64 (Graviton). `sam build` builds it from template.yaml.
FROM public.ecr.aws/lambda/python:3.12-arm64

# Dependencies first, in their own layer, so a code change does not reinstall them. Wheels only: the
# arm64 wheel check (scripts/check-deploy.sh) proves every one exists for this platform and Python.
# In the same layer, botocore's data is cut to the services the handlers call (scripts/slim_botocore.py): a
# client then costs about half the CPU to create, and the 19 MB removed never reach the image.
COPY requirements.txt scripts/slim_botocore.py ${LAMBDA_TASK_ROOT}/
RUN pip install --no-cache-dir --only-binary=:all: --target "${LAMBDA_TASK_ROOT}" -r "${LAMBDA_TASK_ROOT}/requirements.txt" \
    && python "${LAMBDA_TASK_ROOT}/slim_botocore.py" "${LAMBDA_TASK_ROOT}" \
    && rm "${LAMBDA_TASK_ROOT}/requirements.txt" "${LAMBDA_TASK_ROOT}/slim_botocore.py"

# The package itself (src layout): `order_creator` importable from LAMBDA_TASK_ROOT, which is on sys.path; its
# local/ (the laptop's emulator and demo, which import moto) is .dockerignored, and check_image.py proves it.
COPY src/order_creator ${LAMBDA_TASK_ROOT}/order_creator

# Its bytecode, compiled now: /var/task is read-only in Lambda, so Python cannot keep what it compiles there and
# would compile every module of the package again on every cold start (`make bench` measures both ways). pip
# has already compiled the dependencies' bytecode. unchecked-hash: the image never changes after the build, so
# the bytecode is used as it is, whatever timestamps the files carry once Lambda has unpacked the image.
RUN python -m compileall -q --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}/order_creator"

CMD ["order_creator.handler.lambda_handler"]
