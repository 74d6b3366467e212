@failure-mode @scenario-wrong-password
Feature: Wrong password
  The user types a wrong password; the sign-in page refuses it with AADSTS50126.
  Guide section: MFA or sign-in loops

  Scenario: Wrong password: the symptom
    Given the scenario "wrong-password"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS50126
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 50126 in the sign-in log
    And portal.office.com sign-in fails with AADSTS50126

  Scenario: Wrong password: the fix repairs it
    Given the scenario "wrong-password"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
    And portal.office.com sign-in succeeds
