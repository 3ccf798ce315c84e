"""The public side: landing page, application form, check page, applicant status page."""
