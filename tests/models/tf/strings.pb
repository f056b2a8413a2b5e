
7
sPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ

sameIdentitys*
T0
*
lengthsStringLengths*
unitBYTE"ª