"""Face-attendance kiosks, an MQTT hub and phone fallback for public-sector workforces."""

from setuptools import find_packages, setup

# face_recognition is not listed: it declares `dlib`, which pip would compile
# from source. We use dlib (the `dlib-bin` wheel here; a BLAS build in the
# kiosk wheelhouse) with the models of face_recognition_models directly.
FACE = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8,<5",  # 5.x has no CascadeClassifier/Haar files
    "face_recognition_models>=0.3.0",
    "Pillow>=10",
]
# Both provide the `dlib` module. dlib-bin is a prebuilt wheel without BLAS;
# a kiosk should run `dlib` built against OpenBLAS (3-4x faster encodings):
# the `kiosk-blas` extra, installed from a wheelhouse holding that build.
DLIB_BIN = ["dlib-bin>=19.24"]
DLIB_BLAS = ["dlib>=19.24"]
# The kiosk screen reads which characters its Noto fonts can draw (kiosk/screen/fonts.py). Its window is
# pygame from Debian (python3-pygame, installed by provisioning; the kiosk venv sees system packages).
SCREEN = ["fonttools>=4.38"]

setup(
    name="face-attendance",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11",
    packages=find_packages(include=["protocol*", "i18n*", "biometrics*", "kiosk*", "hub*", "hardware*", "provisioning*", "devtools*"]),
    include_package_data=True,
    package_data={"i18n": ["catalogues/*.json"], "hub": ["*.yaml", "accounts/data/*", "static/*", "static/common/*", "static/phone/*", "static/dashboard/*", "templates/*", "migrations/*", "migrations/versions/*"], "kiosk": ["*.yaml"]},
    install_requires=[
        "pydantic>=2.5",
        "pyyaml>=6",
        "cryptography>=41",
        "pynacl>=1.5",  # libsodium: the hub checks signatures with it (protocol/signing.py)
        "paho-mqtt>=2.0,<3",
    ],
    extras_require={
        "kiosk": FACE + DLIB_BIN + SCREEN + ["gpiozero>=2.0"],
        "kiosk-blas": FACE + DLIB_BLAS + SCREEN + ["gpiozero>=2.0"],
        "pi": ["picamera2", "lgpio"],
        "hub": FACE + DLIB_BIN + [
            "fastapi>=0.110",
            "uvicorn>=0.29",
            "sqlalchemy>=2.0",
            "alembic>=1.13",
            "python-multipart>=0.0.9",
            "httpx>=0.27",
            "argon2-cffi>=23.1",
            "prometheus-client>=0.20",  # GET /metrics (text exposition format)
            "swagger-ui-bundle-v2>=5.31",  # /docs served from these files, never a CDN (hub/api/docs.py)
        ],
        "postgres": ["psycopg[binary]>=3.1"],
        "provision": ["httpx>=0.27"],
        "dev": ["pytest>=8", "httpx>=0.27", "psycopg[binary]>=3.1", "threadpoolctl>=3", "selenium>=4.20"],
    },
    entry_points={
        "console_scripts": [
            "kiosk=kiosk.cli:main",
            "hub=hub.cli:main",
            "provision=provisioning.cli:main",
        ]
    },
)
